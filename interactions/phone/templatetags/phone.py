"""Template tags that put the phone channel into the desk: call details in the timeline, click-to-call."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.auth.models import AnonymousUser

from customers.models import Customer, Identity
from interactions import access
from interactions.models import Channel, Interaction
from interactions.phone import selectors
from interactions.phone.models import Call, Callback

register = template.Library()


def call_context(user: Any, call: Call) -> dict[str, Any]:
    """The call's block: its actions for the call's agent and supervisors only; its notes (internal) only for them
    and for who may see the conversation's notes (interactions/access.py). Notes are blanked in memory only."""
    may_act = access.may_act_on_call(user, call)
    conversation = call.conversation
    notes_ok = may_act or (conversation is not None and access.may_see_notes(user, conversation))
    meta = dict(call.interaction.meta or {}) if call.interaction_id and call.interaction else {}
    if not notes_ok:
        call.notes = ""
        meta.pop("notes", None)
    return {
        "call": call,
        "meta": meta,
        "dispositions": selectors.active_dispositions() if call.state == Call.State.WRAP_UP else [],
        "may_act": may_act,
    }


def callback_context(user: Any, callback: Callback, conversation_id: int | None) -> dict[str, Any]:
    return {
        "callback": callback,
        "awaiting_outcome": callback.status == Callback.Status.ROUTED
        and callback.conversation_id == conversation_id
        and callback.conversation is not None
        and access.may_act_on(user, callback.conversation),
        "outcomes": Callback.Outcome.choices,
    }


@register.inclusion_tag("phone/timeline_extra.html", takes_context=True)
def phone_details(context: template.Context, item: Interaction) -> dict[str, Any]:
    """Below a call: its timings, result, notes and the wrap-up form; below a callback step: the outcome form."""
    request = context.get("request")
    user = request.user if request is not None else AnonymousUser()
    extra: dict[str, Any] = {"request": request, "csrf_token": context.get("csrf_token")}
    if item.kind == Interaction.Kind.CALL:
        call = Call.objects.select_related("disposition", "agent").filter(interaction=item).first()
        if call is not None:
            call.interaction = item
            extra.update(call_context(user, call))
    elif item.kind == Interaction.Kind.SYSTEM and item.meta.get("callback_event") == "due":
        callback = Callback.objects.filter(pk=item.meta.get("callback")).first()
        if callback is not None:
            extra.update(callback_context(user, callback, item.conversation_id))
    return extra


@register.inclusion_tag("phone/click_to_call.html", takes_context=True)
def click_to_call(context: template.Context, customer: Customer) -> dict[str, Any]:
    """The customer panel's "Call" button, when the customer has a number and one of the agent's queues' phone
    channels can dial (never another team's line)."""
    request = context.get("request")
    user = request.user if request is not None else AnonymousUser()
    channels = access.channels_actionable_by(user).filter(
        kind=Channel.Kind.VOICE, is_active=True, config__has_key="click_to_call_url"
    )
    can_dial = channels.exists() and customer.identities.filter(kind=Identity.Kind.PHONE).exists()
    return {"customer": customer, "can_dial": can_dial, "csrf_token": context.get("csrf_token")}
