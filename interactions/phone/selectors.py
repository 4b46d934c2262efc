"""Reads of the phone channel, scoped by the same permission rules as the rest of the desk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions import access
from interactions.models import Channel
from interactions.phone.models import Call, Callback, Disposition

# A call the provider never reported ended stops counting after this long (a lost hang-up must not pin an agent).
STALE_AFTER = timedelta(hours=12)
AGENT_STATE = {
    Call.State.RINGING: "ringing",
    Call.State.ON_CALL: "on_call",
    Call.State.ON_HOLD: "on_call",
    Call.State.WRAP_UP: "wrap_up",
}
# When an agent has several calls at once, the busiest state wins.
STATE_WEIGHT = {"ringing": 0, "wrap_up": 1, "on_call": 2}


def agent_call_states() -> dict[int, str]:
    """Each agent's telephone state for the supervisors: "ringing", "on_call" or "wrap_up" (absent: none)."""
    rows = Call.objects.filter(
        state__in=list(AGENT_STATE), agent__isnull=False, updated_at__gte=timezone.now() - STALE_AFTER
    ).values_list("agent_id", "state")
    states: dict[int, str] = {}
    for agent_id, state in rows:
        label = AGENT_STATE[Call.State(state)]
        if agent_id not in states or STATE_WEIGHT[label] > STATE_WEIGHT[states[agent_id]]:
            states[agent_id] = label
    return states


def _call(pk: Any) -> Call | None:
    try:
        return Call.objects.select_related("conversation", "customer", "agent", "disposition").filter(pk=pk).first()
    except (ValueError, TypeError, OverflowError):
        return None


def get_call_for_agent(user: Any, pk: Any) -> Call:
    """The call if `user` has it, supervises, or may open its conversation (interactions/access.py); 404 otherwise."""
    call = _call(pk)
    if call is None or not access.is_active_agent(user):
        raise Http404("No such call")
    if access.may_act_on_call(user, call):
        return call
    if (
        call.conversation_id is None
        or not access.conversations_visible_to(user).filter(pk=call.conversation_id).exists()
    ):
        raise Http404("No such call")
    return call


def get_call_for_action(user: Any, pk: Any) -> Call:
    """The call if `user` may act on it (wrap-up, notes, link, caller's name): its agent or a supervisor. 404 when
    they may not even see it, 403 when they may only read it."""
    call = get_call_for_agent(user, pk)
    access.require_call_action(user, call)
    return call


def get_callback_for_agent(user: Any, pk: Any) -> Callback:
    """The callback if `user` may act on its routed conversation (an outcome is an action on it); 404 if they may
    not open it, 403 if they may only read it."""
    try:
        callback = Callback.objects.select_related("customer", "channel").filter(pk=pk).first()
    except (ValueError, TypeError, OverflowError):
        callback = None
    if callback is None or not access.is_active_agent(user):
        raise Http404("No such callback")
    if access.is_supervisor(user):
        return callback
    if callback.conversation_id is None:
        raise Http404("No such callback")
    access.get_conversation_for_action(user, callback.conversation_id)
    return callback


def dialing_channel_for(user: Any, channel_id: Any = None) -> Channel:
    """The phone channel `user` may place a call through: one of their own queues' (supervisors: any), with a
    click-to-call endpoint; `channel_id` picks one. A call speaks with the channel's number: never another team's."""
    channels = access.channels_actionable_by(user).filter(kind=Channel.Kind.VOICE, is_active=True)
    if channel_id is not None:
        channels = channels.filter(pk=channel_id)
    for candidate in channels.select_related("queue").order_by("pk"):
        if (candidate.config or {}).get("click_to_call_url"):
            return candidate
    raise ValidationError(_("None of your queues' phone channels can place calls."), code="no_dialing_channel")


def active_dispositions() -> list[Disposition]:
    return list(Disposition.objects.filter(is_active=True))
