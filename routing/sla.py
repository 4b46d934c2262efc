"""SLA clocks of conversations: first response, next response and resolution, counted in the queue's business time.

The clocks live on the Conversation as due times. A clock runs while its due time is set and its stop has not
happened: first response until the first agent reply (`first_response_at`), next response from a customer message
that follows an agent reply until the next agent reply (cleared then), resolution until the case is resolved.
Pending and snoozed pause them all (`sla_paused_at`); resuming moves each due time so that the business time left at
the pause is left again at the resume. A clock already breached when the pause began keeps its due time: the breach
stands.

Warnings and breaches are announced once per clock. The conversation keeps one `sla_warned_at` and one
`sla_breached_at`, and a clock counts as announced when that moment falls inside the clock's own warning window
(business time left ≤ (100 − warning %) of its target) or after its due time, respectively. A new clock (the next
response after a reply) therefore gets its own warning and breach, and re-running the sweep announces nothing new.

The functions that take a conversation expect the caller to hold its row lock (the interactions services do).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, TypedDict

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from interactions import access, events
from interactions.models import Conversation
from omnidesk import realtime
from routing import engine
from routing.business_time import BusinessCalendar, add_business_time, business_time_between
from routing.models import Queue

logger = logging.getLogger(__name__)

ClockName = Literal["first_response", "next_response", "resolution"]
Level = Literal["ok", "at_risk", "breached", "paused"]
SWEEP_CHUNK = 500


def escalation_step() -> int:
    """How much a breach raises the conversation's priority (once per conversation)."""
    return int(settings.OMNIDESK_SLA_ESCALATION_STEP)


# --- calendars ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _calendar(tz: str, hours: str, holidays: str) -> BusinessCalendar:
    return BusinessCalendar.from_queue_fields(tz, json.loads(hours), json.loads(holidays))


ALWAYS_OPEN = BusinessCalendar.from_queue_fields("UTC", {}, [])


def calendar_for(queue: Queue) -> BusinessCalendar:
    """The queue's business calendar (cached by its fields' contents).

    A malformed calendar saved without validation must not stop messages from being taken in: it is logged and the
    clocks then count around the clock, which errs on the side of warning early.
    """
    try:
        return _calendar(
            queue.timezone, json.dumps(queue.business_hours, sort_keys=True), json.dumps(queue.holidays, default=str)
        )
    except (ValueError, TypeError) as error:
        logger.error("queue %s has malformed business hours, counting 24/7: %s", queue.pk, error)
        return ALWAYS_OPEN


# --- clocks -------------------------------------------------------------------------------------------------------


CLOCK_LABELS = {
    "first_response": gettext_lazy("First response due"),
    "next_response": gettext_lazy("Next response due"),
    "resolution": gettext_lazy("Resolution due"),
}


@dataclass(frozen=True)
class Clock:
    name: ClockName
    due: datetime
    target: timedelta | None  # None when the queue no longer has this target: breaches still count, no warning

    @property
    def label(self) -> str:
        return str(CLOCK_LABELS[self.name])


def _minutes(value: int | None) -> timedelta | None:
    return timedelta(minutes=value) if value else None


def running_clocks(conversation: Conversation, *, queue: Queue | None = None) -> list[Clock]:
    """The clocks that run now (paused ones included), earliest due first. `queue`: the conversation's, if loaded."""
    queue = queue or conversation.queue
    if queue is None or conversation.status == Conversation.Status.RESOLVED:
        return []
    clocks = []
    if conversation.first_response_due_at and conversation.first_response_at is None:
        clocks.append(
            Clock("first_response", conversation.first_response_due_at, _minutes(queue.sla_first_response_minutes))
        )
    if conversation.next_response_due_at:
        clocks.append(
            Clock("next_response", conversation.next_response_due_at, _minutes(queue.sla_next_response_minutes))
        )
    if conversation.resolution_due_at:
        clocks.append(Clock("resolution", conversation.resolution_due_at, _minutes(queue.sla_resolution_minutes)))
    return sorted(clocks, key=lambda clock: clock.due)


def _warning_window(queue: Queue, clock: Clock) -> timedelta | None:
    if clock.target is None:
        return None
    return clock.target * (100 - min(queue.sla_warning_percent, 100)) / 100


def _in_window(calendar: BusinessCalendar, queue: Queue, clock: Clock, at: datetime) -> bool:
    window = _warning_window(queue, clock)
    if window is None or at >= clock.due:
        return False
    # Business time left never exceeds wall-clock time left: a clock this close is in its window, no need to count.
    return clock.due - at <= window or business_time_between(calendar, at, clock.due) <= window


@dataclass(frozen=True)
class SlaState:
    level: Level
    clock: Clock | None
    clocks: list[Clock] = field(default_factory=list)


def sla_state(conversation: Conversation, *, now: datetime | None = None) -> SlaState:
    """What the desk shows: the most urgent running clock and whether it is fine, at risk, breached or paused."""
    clocks = running_clocks(conversation)
    if not clocks:
        return SlaState("ok", None, [])
    if conversation.sla_paused_at is not None:
        return SlaState("paused", clocks[0], clocks)
    now = now or timezone.now()
    assert conversation.queue is not None  # running_clocks is empty without a queue
    calendar = calendar_for(conversation.queue)
    breached = [clock for clock in clocks if clock.due <= now]
    if breached:
        return SlaState("breached", breached[0], clocks)
    at_risk = [clock for clock in clocks if _in_window(calendar, conversation.queue, clock, now)]
    if at_risk:
        return SlaState("at_risk", at_risk[0], clocks)
    return SlaState("ok", clocks[0], clocks)


def _save(conversation: Conversation, fields: Iterable[str]) -> None:
    conversation.save(update_fields=[*fields, "updated_at"])


def start_sla_clocks(*, conversation: Conversation, now: datetime | None = None) -> None:
    """The conversation entered its queue: first-response (unless answered already) and resolution clocks start."""
    queue = conversation.queue
    if queue is None:
        return
    now = now or timezone.now()
    calendar = calendar_for(queue)
    fields = []
    if queue.sla_first_response_minutes and conversation.first_response_at is None:
        conversation.first_response_due_at = add_business_time(
            calendar, now, timedelta(minutes=queue.sla_first_response_minutes)
        )
        fields.append("first_response_due_at")
    if queue.sla_resolution_minutes:
        conversation.resolution_due_at = add_business_time(
            calendar, now, timedelta(minutes=queue.sla_resolution_minutes)
        )
        fields.append("resolution_due_at")
    if fields:
        _save(conversation, fields)


def note_customer_message(*, conversation: Conversation, now: datetime | None = None) -> None:
    """A customer wrote again: after an agent reply, the next-response clock starts (from this first unanswered one)."""
    queue = conversation.queue
    if (
        queue is None
        or not queue.sla_next_response_minutes
        or conversation.status == Conversation.Status.RESOLVED
        or conversation.first_response_at is None  # the first-response clock is still running
        or conversation.next_response_due_at is not None  # already waiting for an answer
    ):
        return
    # Started during a pause, the clock counts from the pause so that resuming leaves it its whole target.
    start = conversation.sla_paused_at or now or timezone.now()
    conversation.next_response_due_at = add_business_time(
        calendar_for(queue), start, timedelta(minutes=queue.sla_next_response_minutes)
    )
    _save(conversation, ["next_response_due_at"])


def note_agent_reply(*, conversation: Conversation, now: datetime | None = None) -> None:
    """An agent answered: the first-response clock (if still running) and the next-response clock stop."""
    fields = []
    if conversation.first_response_at is None:
        conversation.first_response_at = now or timezone.now()
        fields.append("first_response_at")
    if conversation.next_response_due_at is not None:
        conversation.next_response_due_at = None
        fields.append("next_response_due_at")
    if fields:
        _save(conversation, fields)


def stop_sla_clocks(*, conversation: Conversation) -> None:
    """The case is resolved: nothing runs any more (the due times stay, for reporting, except next response)."""
    conversation.next_response_due_at = None
    conversation.sla_paused_at = None
    _save(conversation, ["next_response_due_at", "sla_paused_at"])


def pause_sla(*, conversation: Conversation, now: datetime | None = None) -> None:
    """Pending or snoozed: the clocks stop counting until `resume_sla`."""
    if conversation.sla_paused_at is None:
        conversation.sla_paused_at = now or timezone.now()
        _save(conversation, ["sla_paused_at"])


DUE_FIELDS = ("first_response_due_at", "next_response_due_at", "resolution_due_at")


def resume_sla(*, conversation: Conversation, now: datetime | None = None) -> None:
    """Back to open: every running due time moves back by the business time spent paused.

    Precisely, each due time becomes now + the business time that was left at the pause, so a pause over a weekend
    costs nothing and one during open hours costs exactly those hours.
    """
    paused_at = conversation.sla_paused_at
    if paused_at is None:
        return
    now = now or timezone.now()
    fields = ["sla_paused_at"]
    if conversation.queue is not None:
        calendar = calendar_for(conversation.queue)
        for name in DUE_FIELDS:
            due = getattr(conversation, name)
            if due is None or due <= paused_at:
                continue  # not running, or breached before the pause: the breach stands
            setattr(
                conversation, name, add_business_time(calendar, now, business_time_between(calendar, paused_at, due))
            )
            fields.append(name)
        if conversation.sla_warned_at is not None:
            # The business time left is what it was at the pause, so a clock warned before it is still in its window
            # as seen from now: moving the mark keeps it announced.
            conversation.sla_warned_at = now
            fields.append("sla_warned_at")
    conversation.sla_paused_at = None
    _save(conversation, fields)


# --- the sweep ----------------------------------------------------------------------------------------------------


class ClockData(TypedDict):
    clock: str
    due_at: str


class SlaAlert(TypedDict):
    """`conversation.sla_warning`, `conversation.sla_breached` and `conversation.escalated`."""

    conversation: events.ConversationSummary
    clocks: list[ClockData]
    priority: int


@dataclass
class SweepResult:
    warned: list[int] = field(default_factory=list)
    breached: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)


def _alert(conversation: Conversation, summary: events.ConversationSummary, clocks: list[Clock]) -> SlaAlert:
    return {
        "conversation": summary,
        "clocks": [{"clock": clock.name, "due_at": clock.due.isoformat()} for clock in clocks],
        "priority": conversation.priority,
    }


def _alerts_due(
    conversation: Conversation, queue: Queue, calendar: BusinessCalendar, now: datetime
) -> tuple[list[Clock], list[Clock]]:
    """The clocks of `conversation` whose warning, and those whose breach, is due and not yet announced."""
    clocks = running_clocks(conversation, queue=queue)
    breached_at, warned_at = conversation.sla_breached_at, conversation.sla_warned_at
    breaches = [c for c in clocks if c.due <= now and (breached_at is None or breached_at < c.due)]
    warnings = [
        c
        for c in clocks
        if _in_window(calendar, queue, c, now)
        and not (warned_at is not None and _in_window(calendar, queue, c, warned_at))
    ]
    return warnings, breaches


def _write_marks(now: datetime, marked: SweepResult) -> None:
    """Three UPDATEs for a whole chunk (the rows are locked): the marks are the same `now` for all of them."""
    warned, breached, escalated = marked.warned, marked.breached, marked.escalated
    if warned:
        Conversation.objects.filter(pk__in=warned).update(sla_warned_at=now, updated_at=now)
    if breached:
        Conversation.objects.filter(pk__in=breached).update(sla_breached_at=now, updated_at=now)
    if escalated:
        Conversation.objects.filter(pk__in=escalated).update(
            escalated_at=now, priority=F("priority") + escalation_step()
        )
        # In the same transaction, the escalation moves the items ahead of their peers in routing.
        engine.escalate_items(conversation_ids=escalated)


def _check(conversation: Conversation, now: datetime, result: SweepResult) -> list[realtime.Announcement]:
    """Set the marks (and escalate) on the locked `conversation` in memory; `_write_marks` saves them."""
    queue = conversation.queue
    assert queue is not None
    warnings, breaches = _alerts_due(conversation, queue, calendar_for(queue), now)
    if not (warnings or breaches):
        return []
    escalating = bool(breaches) and conversation.escalated_at is None
    if warnings:
        conversation.sla_warned_at = now
        result.warned.append(conversation.pk)
    if breaches:
        conversation.sla_breached_at = now
        result.breached.append(conversation.pk)
    if escalating:
        conversation.escalated_at = now
        conversation.priority += escalation_step()
        result.escalated.append(conversation.pk)
    summary = events.conversation_summary(conversation)
    audience = access.audience_for_conversation(conversation)
    announcements = []
    if warnings:
        alert = _alert(conversation, summary, warnings)
        announcements.append(realtime.Announcement("conversation.sla_warning", alert, audience))
    if breaches:
        alert = _alert(conversation, summary, breaches)
        announcements.append(realtime.Announcement("conversation.sla_breached", alert, audience))
        if escalating:
            # Everyone who sees the conversation sees the "Escalated" badge: its agent, its queue, the supervisors.
            announcements.append(realtime.Announcement("conversation.escalated", alert, audience))
    return announcements


def _candidates() -> Any:
    running = (
        Q(first_response_due_at__isnull=False, first_response_at__isnull=True)
        | Q(next_response_due_at__isnull=False)
        | Q(resolution_due_at__isnull=False)
    )
    return Conversation.objects.filter(
        running, status=Conversation.Status.OPEN, sla_paused_at__isnull=True, queue__isnull=False
    )


SNAPSHOT_FIELDS = (
    "id",
    "queue_id",
    "status",
    "first_response_at",
    *DUE_FIELDS,
    "sla_paused_at",
    "sla_warned_at",
    "sla_breached_at",
)


def sweep_sla(*, now: datetime | None = None) -> SweepResult:
    """Announce the warnings and breaches due by `now` (once each) and escalate breached conversations (once).

    Run by beat; safe to run twice or in two processes at once. A first pass reads only the clock fields, without
    locks, to find the conversations with something to announce; each chunk of those is then locked (SKIP LOCKED: a
    concurrent sweep or a busy conversation is left for the next round), checked again under the lock, and its marks
    are written in the same transaction as the events.
    """
    now = now or timezone.now()
    result = SweepResult()
    queues = Queue.objects.in_bulk()
    calendars = {pk: calendar_for(queue) for pk, queue in queues.items()}
    due = [
        conversation.pk
        for conversation in _candidates().only(*SNAPSHOT_FIELDS).order_by("pk").iterator(chunk_size=2000)
        if conversation.queue_id in queues
        and any(_alerts_due(conversation, queues[conversation.queue_id], calendars[conversation.queue_id], now))
    ]
    for start in range(0, len(due), SWEEP_CHUNK):
        with transaction.atomic():
            chunk = (
                _candidates()
                .filter(pk__in=due[start : start + SWEEP_CHUNK])
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("queue", "customer", "channel", "assignee")
                .order_by("pk")
            )
            marked = SweepResult()
            announcements = []
            for conversation in chunk:
                announcements += _check(conversation, now, marked)
            if announcements:
                _write_marks(now, marked)
                realtime.publish_many_on_commit(announcements)
        result.warned += marked.warned
        result.breached += marked.breached
        result.escalated += marked.escalated
    return result
