"""Routing's pieces of the desk page: the transfer form, offers, and the supervisor link."""

from __future__ import annotations

from typing import Any

from django import template

from interactions import access
from routing.models import Offer

register = template.Library()


@register.inclusion_tag("routing/transfer_form.html", takes_context=True)
def transfer_form(context: dict[str, Any], conversation: Any) -> dict[str, Any]:
    from routing.views import transfer_targets

    request = context["request"]
    may_act = access.may_act_on(request.user, conversation)
    targets = transfer_targets(request.user) if may_act else {"transfer_queues": [], "transfer_agents": []}
    return {
        "conversation": conversation,
        "may_act": may_act,
        "next": request.path,
        "csrf_token": context.get("csrf_token"),
        **targets,
    }


@register.inclusion_tag("routing/intent_form.html", takes_context=True)
def intent_form(context: dict[str, Any], conversation: Any) -> dict[str, Any]:
    from routing.models import ConversationIntent, Intent

    current = ConversationIntent.objects.filter(conversation=conversation).select_related("intent").first()
    return {
        "conversation": conversation,
        "may_act": access.may_act_on(context["request"].user, conversation),
        "current": current.intent if current else None,
        "confidence_percent": round(current.confidence * 100) if current else None,
        "intents": Intent.objects.order_by("name"),
        "next": context["request"].path,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("routing/offers.html", takes_context=True)
def pending_offers(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    offers = Offer.objects.filter(agent=user, state=Offer.State.PENDING).select_related("item__conversation__customer")
    return {"offers": offers, "csrf_token": context.get("csrf_token")}


@register.simple_tag(takes_context=True)
def is_supervisor(context: dict[str, Any]) -> bool:
    return access.is_supervisor(context["request"].user)


@register.simple_tag(takes_context=True)
def may_act_on(context: dict[str, Any], conversation: Any) -> bool:
    """Whether the page's user may act on `conversation` (else it is shown read-only): interactions/access.py."""
    return access.may_act_on(context["request"].user, conversation)
