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


def call_context(user: Any, call: Call, *, sees_conversation_notes: bool | None = None) -> dict[str, Any]:
    """The call's block: its actions for the call's agent and supervisors only; its notes (internal) only for them
    and for who may see the conversation's notes (interactions/access.py). Notes are blanked in memory only.

    `sees_conversation_notes`: access.may_see_notes(user, call.conversation) when the caller knows it already (a
    timeline entry of that conversation, passed through access.redact); asked here otherwise."""
    may_act = access.may_act_on_call(user, call)
    if sees_conversation_notes is None:
        conversation = call.conversation
        sees_conversation_notes = conversation is not None and access.may_see_notes(user, conversation)
    notes_ok = may_act or sees_conversation_notes
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


def callback_context(
    user: Any, callback: Callback, conversation_id: int | None, *, may_act: bool | None = None
) -> dict[str, Any]:
    """`may_act`: access.may_act_on(user, callback.conversation) when the caller knows it already; asked otherwise."""
    conversation = callback.conversation
    awaiting = (
        callback.status == Callback.Status.ROUTED
        and callback.conversation_id == conversation_id
        and conversation is not None
    )
    if awaiting and may_act is None and conversation is not None:
        may_act = access.may_act_on(user, conversation)
    return {"callback": callback, "awaiting_outcome": awaiting and bool(may_act), "outcomes": Callback.Outcome.choices}


def _entry_standing(item: Interaction) -> bool | None:
    """Whether the page's user may act on (and so see the notes of) the entry's conversation, as access.redact
    decided it for the whole page (`notes_hidden`); None when the entry did not come through it."""
    hidden = getattr(item, "notes_hidden", None)
    return None if hidden is None else not hidden


@register.inclusion_tag("phone/timeline_extra.html", takes_context=True)
def phone_details(context: template.Context, item: Interaction) -> dict[str, Any]:
    """Below a call: its timings, result, notes and the wrap-up form; below a callback step: the outcome form."""
    request = context.get("request")
    user = request.user if request is not None else AnonymousUser()
    extra: dict[str, Any] = {"request": request, "csrf_token": context.get("csrf_token")}
    # The timeline's selector (interactions.selectors.customer_timeline_for) loads the call with its entry and the
    # due callbacks once per page; an entry rendered on its own (a reply just sent) is read here.
    if item.kind == Interaction.Kind.CALL:
        try:
            call: Call | None = item.call
        except Call.DoesNotExist:
            call = None
        if call is not None:
            call.interaction = item
            same_case = call.conversation_id == item.conversation_id
            extra.update(call_context(user, call, sees_conversation_notes=_entry_standing(item) if same_case else None))
    elif item.kind == Interaction.Kind.SYSTEM and item.meta.get("callback_event") == "due":
        if hasattr(item, "due_callback"):
            callback = item.due_callback
        else:
            callback = Callback.objects.select_related("conversation").filter(pk=item.meta.get("callback")).first()
        if callback is not None:
            # Shown only when the callback belongs to this entry's conversation: the entry's standing is the answer.
            extra.update(callback_context(user, callback, item.conversation_id, may_act=_entry_standing(item)))
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
