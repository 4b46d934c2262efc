"""Reads of the phone channel, scoped by the same permission rules as the rest of the desk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import Http404
from django.utils import timezone

from interactions import access
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


def get_call_for_agent(user: Any, pk: int) -> Call:
    """The call if `user` may see its conversation (or has the call); 404 otherwise."""
    call = Call.objects.select_related("conversation", "customer", "agent", "disposition").filter(pk=pk).first()
    if call is None or not user.is_authenticated:
        raise Http404("No such call")
    if call.agent_id == user.pk or access.is_supervisor(user):
        return call
    if (
        call.conversation_id is None
        or not access.conversations_visible_to(user).filter(pk=call.conversation_id).exists()
    ):
        raise Http404("No such call")
    return call


def get_callback_for_agent(user: Any, pk: int) -> Callback:
    callback = Callback.objects.select_related("customer", "channel").filter(pk=pk).first()
    if callback is None or not user.is_authenticated:
        raise Http404("No such callback")
    if access.is_supervisor(user):
        return callback
    visible = access.conversations_visible_to(user)
    if callback.conversation_id is None or not visible.filter(pk=callback.conversation_id).exists():
        raise Http404("No such callback")
    return callback


def active_dispositions() -> list[Disposition]:
    return list(Disposition.objects.filter(is_active=True))
