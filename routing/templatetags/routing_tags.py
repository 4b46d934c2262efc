"""Routing's pieces of the desk page: the transfer form, the intent form, offers, and the supervisor link.

Adapters only: what they show is read by routing.selectors, who may act is interactions.access's answer.
"""

from __future__ import annotations

from typing import Any

from django import template

from interactions import access
from routing import selectors

register = template.Library()


@register.inclusion_tag("routing/transfer_form.html", takes_context=True)
def transfer_form(context: dict[str, Any], conversation: Any) -> dict[str, Any]:
    request = context["request"]
    may_act = access.may_act_on(request.user, conversation)
    targets = selectors.transfer_targets(request.user) if may_act else {"transfer_queues": [], "transfer_agents": []}
    return {
        "conversation": conversation,
        "may_act": may_act,
        "next": request.path,
        "csrf_token": context.get("csrf_token"),
        **targets,
    }


@register.inclusion_tag("routing/intent_form.html", takes_context=True)
def intent_form(context: dict[str, Any], conversation: Any) -> dict[str, Any]:
    return {
        "conversation": conversation,
        "may_act": access.may_act_on(context["request"].user, conversation),
        **selectors.intent_choice(conversation),
        "next": context["request"].path,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("routing/offers.html", takes_context=True)
def pending_offers(context: dict[str, Any]) -> dict[str, Any]:
    return {"offers": selectors.pending_offers_for(context["request"].user), "csrf_token": context.get("csrf_token")}


@register.simple_tag(takes_context=True)
def is_supervisor(context: dict[str, Any]) -> bool:
    return access.is_supervisor(context["request"].user)


@register.simple_tag(takes_context=True)
def may_act_on(context: dict[str, Any], conversation: Any) -> bool:
    """Whether the page's user may act on `conversation` (else it is shown read-only): interactions/access.py."""
    return access.may_act_on(context["request"].user, conversation)
