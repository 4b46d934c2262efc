"""What each service tells reporting, one call per transition (see docs/kpis.md for the durations' meaning).

The services own the transitions; these functions only read the state the service has just written and record it
with `reporting.events.record`, inside the service's transaction. They import models and reporting's own leaves only.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec

from django.utils import timezone

from interactions.models import Conversation, Interaction
from reporting import live, surveys
from reporting.events import EventContext, context_of, loaded_context, read_context, record
from reporting.models import EventKind, ReportingEvent

VOICE = "voice"
P = ParamSpec("P")

# For the benchmark only: bench/reports.py runs chat_e2e's stack once with this set, to measure what reporting costs
# ingest. Nothing in production sets it; unset (always, outside that benchmark) every hook records.
RECORDING = os.environ.get("OMNIDESK_BENCH_WITHOUT_REPORTING", "") != "1"


def hook(function: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(function)
    def recording(*args: P.args, **kwargs: P.kwargs) -> None:
        if RECORDING:
            function(*args, **kwargs)

    return recording


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else max(0.0, (end - start).total_seconds())


@hook
def conversation_offered(*, conversation: Conversation) -> None:
    """A conversation created in this transaction entered its queue (routing's `enqueue_conversation`, from
    interactions/cases.py `open_conversation`): its first event, which opens its reporting case."""
    if conversation.channel.kind == VOICE:
        return  # the call reports its own offer (call_answered / call_ended)
    # A new case carries its stored intent and queue (interactions/cases.py open_conversation): nothing to read.
    context = loaded_context(conversation)
    record(
        kind=EventKind.OFFERED_TO_QUEUE,
        conversation=conversation,
        at=conversation.queued_at,
        agent_id=0,
        context=context,
        opens_case=True,
    )
    live.push_soon()


@hook
def conversation_offered_to_agent(*, conversation_id: int, agent_id: int) -> None:
    conversation = Conversation.objects.select_related("channel").get(pk=conversation_id)
    record(kind=EventKind.OFFERED_TO_AGENT, conversation=conversation, agent_id=agent_id)


@hook
def conversation_answered(*, conversation: Conversation, context: EventContext | None = None) -> None:
    """The first assignment after it entered its queue: ASA's and service level's wait. `context`: the intent,
    calendar and targets when the assignment's own statement read them (then recording reads nothing)."""
    if conversation.channel.kind == VOICE:
        return  # a call is answered when the agent picks up, not when its conversation is routed
    wait = _seconds(conversation.queued_at, conversation.assigned_at)
    record(
        kind=EventKind.ANSWERED,
        conversation=conversation,
        at=conversation.assigned_at,
        duration_seconds=wait,
        context=context,
    )
    live.push_soon()


@hook
def conversation_abandoned(*, conversation: Conversation, wait_seconds: float, at: datetime | None = None) -> None:
    """The customer left the queue unanswered (a short abandon under the queue's threshold is classified so)."""
    record(kind=EventKind.ABANDONED, conversation=conversation, at=at, agent_id=0, duration_seconds=wait_seconds)
    live.push_soon()


@hook
def customer_wrote(*, interaction: Interaction) -> None:
    conversation = interaction.conversation
    context = loaded_context(conversation)  # none read when ingest loaded the case with its intent and queue
    record(
        kind=EventKind.CUSTOMER_MESSAGE,
        conversation=conversation,
        at=interaction.created_at,
        context=context,
        deferrable=True,  # an ingest batch writes its customers' messages together
    )


@hook
def agent_replied(*, interaction: Interaction) -> None:
    """First response (from entering the queue) or reply (from the customer's oldest unanswered message)."""
    conversation = interaction.conversation
    earlier = Interaction.objects.filter(conversation=conversation, created_at__lt=interaction.created_at).exclude(
        kind=Interaction.Kind.NOTE
    )
    answered_before = earlier.filter(direction=Interaction.Direction.OUTBOUND, author__isnull=False).exists()
    agent_id = interaction.author_id
    if not answered_before:
        start = conversation.queued_at or conversation.created_at
        wait = _seconds(start, interaction.created_at)
        record(kind=EventKind.FIRST_RESPONSE, conversation=conversation, agent_id=agent_id, duration_seconds=wait)
        return
    last_reply = (
        earlier.filter(direction=Interaction.Direction.OUTBOUND).order_by("-created_at").values("created_at")[:1]
    )
    waiting = (
        earlier.filter(direction=Interaction.Direction.INBOUND, created_at__gt=last_reply)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if waiting is not None:
        wait = _seconds(waiting, interaction.created_at)
        record(kind=EventKind.AGENT_REPLY, conversation=conversation, agent_id=agent_id, duration_seconds=wait)


def _pending_seconds_since(conversation: Conversation, since: datetime) -> float:
    stops = ReportingEvent.objects.filter(conversation_id=conversation.pk, kind=EventKind.PENDING_STOP, at__gte=since)
    return sum(e.duration_seconds or 0 for e in stops)


@hook
def conversation_resolved(*, conversation: Conversation) -> None:
    """Messaging handle time = assignment → resolution minus time pending on the customer; voice counts at wrap-up."""
    handle = None
    if conversation.channel.kind != VOICE and conversation.assigned_at is not None and conversation.resolved_at:
        span = _seconds(conversation.assigned_at, conversation.resolved_at) or 0.0
        handle = max(0.0, span - _pending_seconds_since(conversation, conversation.assigned_at))
    record(kind=EventKind.RESOLVED, conversation=conversation, at=conversation.resolved_at, handle_seconds=handle)
    surveys.send_after_resolution(conversation=conversation)
    live.push_soon()


@hook
def status_changed(*, conversation: Conversation, previous: str) -> None:
    """Reopen; and the spans pending on the customer, read back at resolution for the handle time."""
    now = timezone.now()
    held = (Conversation.Status.PENDING, Conversation.Status.SNOOZED)
    if previous == Conversation.Status.RESOLVED:
        record(kind=EventKind.REOPENED, conversation=conversation, at=now)
    elif previous in held and conversation.status not in held:
        started = (
            ReportingEvent.objects.filter(conversation_id=conversation.pk, kind=EventKind.PENDING_START)
            .order_by("-at")
            .values_list("at", flat=True)
            .first()
        )
        record(kind=EventKind.PENDING_STOP, conversation=conversation, at=now, duration_seconds=_seconds(started, now))
    if conversation.status in held and previous not in held:
        record(kind=EventKind.PENDING_START, conversation=conversation, at=now)


@hook
def conversation_transferred(*, transfer: Any) -> None:
    conversation = Conversation.objects.select_related("channel").get(pk=transfer.conversation_id)
    at = transfer.created_at
    record(
        kind=EventKind.TRANSFER_OUT,
        conversation=conversation,
        at=at,
        agent_id=transfer.from_agent_id,
        queue_id=transfer.from_queue_id,
    )
    record(
        kind=EventKind.TRANSFER_IN,
        conversation=conversation,
        at=at,
        agent_id=transfer.to_agent_id,
        queue_id=transfer.to_queue_id or transfer.from_queue_id,
    )


# --- voice: a call reports itself (ringing → answered is the ACD wait), not the routing of its conversation ---------


def _call_context(call: Any) -> EventContext | None:
    """What every event of the call's conversation needs (its intent, its queue's calendar and KPI targets), read once
    for all the events one transition records: `record` read it again for each (one statement per event). The same
    queue `record` would use: the call's, else its conversation's. None without a conversation (nothing to read)."""
    conversation = call.conversation
    if conversation is None:
        return None
    queue_id = call.queue_id if call.queue_id is not None else conversation.queue_id
    return read_context(queue_id=queue_id, conversation_id=conversation.pk)


def _call_event(call: Any, kind: str, at: datetime | None, *, context: EventContext | None, **kw: Any) -> None:
    conversation = call.conversation
    dims: dict[str, Any] = {"queue_id": call.queue_id, "channel_kind": VOICE, "channel_id": call.channel_id}
    if conversation is None:
        dims.update(customer_id=call.customer_id)
    record(kind=kind, conversation=conversation, at=at, context=context, **dims, **kw)


def _ringing(call: Any) -> datetime | None:
    return call.ringing_at or call.answered_at or call.ended_at


@hook
def call_answered(*, call: Any) -> None:
    """An inbound call answered: it was offered to its queue when it started ringing; ASA's wait is ringing → answer."""
    if call.direction != "in":
        return
    context = _call_context(call)
    _call_event(call, EventKind.OFFERED_TO_QUEUE, _ringing(call), agent_id=0, context=context)
    wait = _seconds(_ringing(call), call.answered_at)
    _call_event(
        call, EventKind.ANSWERED, call.answered_at, agent_id=call.agent_id, duration_seconds=wait, context=context
    )
    live.push_soon()


@hook
def call_ended(*, call: Any) -> None:
    """Answered: its holds and its talk time (answer → end, minus holds). Unanswered: offered, and abandoned if the
    caller hung up (missed and voicemail are not abandons; the callback they get is counted as such)."""
    if call.direction != "in":
        return
    context = _call_context(call)
    if call.answered_at is None:
        _call_event(call, EventKind.OFFERED_TO_QUEUE, _ringing(call), agent_id=0, context=context)
        if call.result == "abandoned":
            wait = _seconds(_ringing(call), call.ended_at)
            _call_event(call, EventKind.ABANDONED, call.ended_at, agent_id=0, duration_seconds=wait, context=context)
        live.push_soon()
        return
    held = 0.0
    since: datetime | None = None
    for mark in sorted(call.holds, key=lambda m: m["at"]):
        at = datetime.fromisoformat(mark["at"])
        if mark["event"] == "hold" and since is None:
            since = at
            _call_event(call, EventKind.HOLD_START, at, agent_id=call.agent_id, context=context)
        elif mark["event"] == "resumed" and since is not None:
            held_for = _seconds(since, at)
            held += held_for or 0.0
            _call_event(
                call, EventKind.HOLD_STOP, at, agent_id=call.agent_id, duration_seconds=held_for, context=context
            )
            since = None
    if since is not None:  # still on hold when the call ended
        held += _seconds(since, call.ended_at) or 0.0
        _call_event(
            call,
            EventKind.HOLD_STOP,
            call.ended_at,
            agent_id=call.agent_id,
            duration_seconds=_seconds(since, call.ended_at),
            context=context,
        )
    talk = max(0.0, (_seconds(call.answered_at, call.ended_at) or 0.0) - held)
    _call_event(
        call, EventKind.WRAPUP_START, call.ended_at, agent_id=call.agent_id, duration_seconds=talk, context=context
    )


@hook
def call_wrapped_up(*, call: Any) -> None:
    """After-call work ends: the voice contact is handled, AHT = talk + hold + after-call work."""
    if call.answered_at is None or call.ended_at is None or call.wrap_up_ended_at is None:
        return
    acw = _seconds(call.ended_at, call.wrap_up_ended_at) or 0.0
    handle = (_seconds(call.answered_at, call.ended_at) or 0.0) + acw
    _call_event(
        call,
        EventKind.WRAPUP_STOP,
        call.wrap_up_ended_at,
        agent_id=call.agent_id,
        duration_seconds=acw,
        handle_seconds=handle,
        context=_call_context(call),
    )


def _loaded_calendar(channel: Any) -> EventContext | None:
    """The business calendar of `channel`'s queue as an EventContext, when the caller has loaded that queue already
    (a call's lock does, interactions/phone/services.py): without it `record` reads the calendar (one statement per
    missed call). No intent and default KPI targets: only for an event of no conversation that needs no target."""
    if channel.queue_id is None or not type(channel).queue.is_cached(channel):
        return None
    queue = channel.queue
    return context_of((None, queue.timezone, queue.business_hours, queue.holidays, None, None))


@hook
def callback_requested(*, callback: Any) -> None:
    conversation = callback.conversation
    record(
        kind=EventKind.CALLBACK_REQUESTED,
        conversation=conversation,
        queue_id=callback.channel.queue_id,
        channel_kind=VOICE,
        channel_id=callback.channel_id,
        customer_id=callback.customer_id,
        agent_id=0,
        context=_loaded_calendar(callback.channel) if conversation is None else None,
    )


@hook
def callback_completed(*, callback: Any, by: Any) -> None:
    if callback.status == "done":
        record(
            kind=EventKind.CALLBACK_COMPLETED,
            conversation=callback.conversation,
            queue_id=callback.channel.queue_id,
            channel_kind=VOICE,
            channel_id=callback.channel_id,
            customer_id=callback.customer_id,
            agent_id=getattr(by, "pk", None),
        )


@hook
def presence_left(*, profile: Any, now: datetime) -> None:
    """An agent leaves "available" (busy counts as available here): that span was staffed time, with its chat slots."""
    if profile.presence != "available" or profile.presence_changed_at is None:
        return
    staffed = _seconds(profile.presence_changed_at, now)
    record(
        kind=EventKind.AGENT_STAFFED,
        at=now,
        agent_id=profile.user_id,
        duration_seconds=staffed,
        meta={"chat_slots": profile.chat_capacity},
    )
