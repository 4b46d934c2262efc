"""Write a reporting event and add it to its 15-minute rollup, in the caller's transaction.

A leaf module (it imports only models), so every service may call it with one line. The rollup is an
`INSERT … ON CONFLICT DO UPDATE SET col = col + excluded.col`: concurrent writers to the same bucket never lose an
addition, and nothing ever scans interactions to build a report. Service-level classification (answered or abandoned
within the queue's target, short abandon) is decided here, at write time, with the queue's settings of that moment —
changing a target applies from then on, which is what a contact center expects of an interval report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from django.db import connection, models
from django.utils import timezone

from interactions.models import Conversation
from omnidesk import prepared
from reporting import followups, rollups
from reporting.models import EventKind, QueueReportingSettings, ReportingEvent
from routing.business_time import BusinessCalendar, business_time_between, is_open
from routing.models import ConversationIntent, Queue

DEFAULTS = QueueReportingSettings()
ALWAYS_OPEN = object()  # a calendar already looked up: open around the clock (None would mean "not read yet")
BUCKET = timedelta(minutes=15)


def bucket_of(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def queue_settings(queue_id: int | None) -> QueueReportingSettings:
    if queue_id is None:
        return DEFAULTS
    return QueueReportingSettings.objects.filter(queue_id=queue_id).first() or DEFAULTS


@lru_cache(maxsize=256)
def _calendar(tz: str, hours: str, holidays: str) -> BusinessCalendar | None:
    try:
        calendar = BusinessCalendar.from_queue_fields(tz, json.loads(hours), json.loads(holidays))
    except (ValueError, TypeError):
        return None  # a malformed calendar counts around the clock, as routing's SLA clocks do
    return None if calendar.always_open else calendar


CALENDAR_FIELDS = ("timezone", "business_hours", "holidays")


def _calendar_of(fields: tuple[Any, ...] | None) -> BusinessCalendar | None:
    if fields is None:
        return None
    tz, hours, holidays = fields
    return _calendar(tz, json.dumps(hours, sort_keys=True), json.dumps(holidays, default=str))


def business_calendar(queue_id: int | None) -> BusinessCalendar | None:
    """The queue's business calendar (routing.business_time), or None when it is open around the clock."""
    if not queue_id:
        return None
    return _calendar_of(Queue.objects.filter(pk=queue_id).values_list(*CALENDAR_FIELDS).first())


class EventContext(NamedTuple):
    """What an event of a conversation needs besides the conversation: its intent, its queue's calendar (None: open
    around the clock) and the queue's KPI targets. One read, or none when the caller's statement brought it."""

    intent_id: int | None
    calendar: BusinessCalendar | None
    service_level_seconds: int
    short_abandon_seconds: int


CONTEXT_WIDTH = 6


def context_select(*, conversation: str) -> str:
    """The CONTEXT_WIDTH columns of an EventContext as a select-list fragment, for a statement that also joins
    `context_joins`: `conversation` is the SQL expression of the conversation's id. Routing's assignment statement
    uses it so that the answered event costs no read of its own."""
    intents = ConversationIntent._meta.db_table
    return (
        f"(SELECT ci.intent_id FROM {intents} ci WHERE ci.conversation_id = {conversation} ORDER BY ci.id LIMIT 1),"
        ' ctx_q."timezone", ctx_q.business_hours, ctx_q.holidays, ctx_s.service_level_seconds,'
        " ctx_s.short_abandon_seconds"
    )


def context_joins(*, queue: str) -> str:
    """The joins `context_select` reads, for the queue whose id is the SQL expression `queue`."""
    return (
        f" LEFT JOIN {Queue._meta.db_table} ctx_q ON ctx_q.id = {queue}"
        f" LEFT JOIN {QueueReportingSettings._meta.db_table} ctx_s ON ctx_s.queue_id = {queue}"
    )


def context_of(values: Sequence[Any]) -> EventContext:
    """An EventContext from the CONTEXT_WIDTH values `context_select` returned (JSON columns come back as text)."""
    intent_id, tz, hours, holidays, service_level, short_abandon = values
    calendar = None if tz is None else _calendar(tz, _as_text(hours), _as_text(holidays))
    return EventContext(
        intent_id=intent_id,
        calendar=calendar,
        service_level_seconds=DEFAULTS.service_level_seconds if service_level is None else service_level,
        short_abandon_seconds=DEFAULTS.short_abandon_seconds if short_abandon is None else short_abandon,
    )


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


@lru_cache(maxsize=1)
def _context_sql() -> str:
    # SQL text, compiled once: on a customer message, the most frequent event, compiling the ORM's query cost more
    # CPU than the database spent on it. The queue and its KPI targets come in the same read (they were two more).
    return (
        f"SELECT {context_select(conversation='k.conversation_id')}"
        " FROM (SELECT CAST(%s AS bigint) AS conversation_id, CAST(%s AS bigint) AS queue_id) k"
        f"{context_joins(queue='k.queue_id')}"
    )


def read_context(*, queue_id: int | None, conversation_id: int) -> EventContext:
    """The conversation's intent, the queue's calendar and KPI targets in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_context_sql(), [conversation_id, queue_id])
        row = cursor.fetchone()
    return context_of(row)


def business_terms(
    *, queue_id: int | None, at: datetime, duration_seconds: float | None, calendar: Any = None
) -> tuple[bool, float | None]:
    """(whether `at` is within the queue's business hours, the business-hours part of the duration ending at `at`).

    Every event's duration ends at the event (a wait at the answer, a response time at the reply, a hold at its
    stop), so its business part is the open time of [at − duration, at] in the queue's calendar. `calendar`: the
    queue's, already read (None: read it here).
    """
    calendar = business_calendar(queue_id) if calendar is None else calendar
    if calendar is None or calendar is ALWAYS_OPEN:
        return True, duration_seconds
    business = None
    if duration_seconds is not None:
        since = at - timedelta(seconds=duration_seconds)
        business = business_time_between(calendar, since, at).total_seconds()
    return is_open(calendar, at), business


def loaded_context(conversation: Conversation) -> EventContext | None:
    """The context of an event that needs no KPI target (a customer message), from what ingest loaded with the case:
    its stored intent (continuity's candidate cases carry it, `stored_intent_id`) and its queue's row. None when
    either was not loaded with it: `record` then reads the context (one statement per message otherwise)."""
    if not hasattr(conversation, "stored_intent_id"):
        return None
    calendar = None
    if conversation.queue_id is not None:
        queue = conversation.queue if Conversation.queue.is_cached(conversation) else None
        if queue is None:
            return None
        calendar = _calendar_of((queue.timezone, queue.business_hours, queue.holidays))
    # The targets are not read: counters_for and the abandon rule use them only for answered and abandoned events.
    return EventContext(
        intent_id=conversation.stored_intent_id,
        calendar=calendar,
        service_level_seconds=DEFAULTS.service_level_seconds,
        short_abandon_seconds=DEFAULTS.short_abandon_seconds,
    )


def record(
    *,
    kind: str,
    conversation: Conversation | None = None,
    conversation_id: int | None = None,
    at: datetime | None = None,
    agent_id: int | None = None,
    queue_id: int | None = None,
    channel_kind: str = "",
    channel_id: int | None = None,
    customer_id: int | None = None,
    intent_id: int | None = None,
    duration_seconds: float | None = None,
    business_seconds: float | None = None,
    handle_seconds: float | None = None,
    in_business_hours: bool | None = None,
    score: int | None = None,
    meta: dict[str, Any] | None = None,
    context: EventContext | None = None,
    deferrable: bool = False,
    opens_case: bool = False,
) -> ReportingEvent:
    """Record one transition. Dimensions default to the conversation's (queue, channel, customer, intent, assignee).

    `duration_seconds` is the kind's own duration: the wait for answered/abandoned, the time to respond for
    first_response/agent_reply, the hold for hold_stop, the talk for wrapup_start, the after-call work for wrapup_stop,
    staffed time for agent_staffed. `handle_seconds` marks the end of a handled contact (wrap-up end for voice,
    resolution for messaging) and carries its handle time. `in_business_hours` and `business_seconds` come from the
    queue's business calendar unless the caller gives them. `context`: the conversation's EventContext when the
    caller's own statement already read it (routing's assignment does); else it is read here, once.
    `deferrable`: within `deferring()`, an event that adds nothing to a rollup (a customer message) may be written
    with the batch's others at `flush_deferred()`; it then has no id. `opens_case`: an offer to a queue of a
    conversation created in this transaction (reporting/followups.py `follow`).
    """
    at = at or timezone.now()
    if conversation is not None:
        queue_id = queue_id if queue_id is not None else conversation.queue_id
        channel_id = channel_id or conversation.channel_id
        channel_kind = channel_kind or conversation.channel.kind
        customer_id = customer_id or conversation.customer_id
        agent_id = agent_id if agent_id is not None else conversation.assignee_id
        conversation_id = conversation.pk
    needs_calendar = in_business_hours is None or business_seconds is None
    needs_targets = kind in (EventKind.ANSWERED, EventKind.ABANDONED)
    if context is None and conversation is not None and (intent_id is None or needs_calendar or needs_targets):
        context = read_context(queue_id=queue_id, conversation_id=conversation.pk)
    calendar: Any = None
    if context is not None:
        intent_id = context.intent_id if intent_id is None else intent_id
        calendar = ALWAYS_OPEN if context.calendar is None else context.calendar
    if in_business_hours is None or business_seconds is None:
        open_now, business = business_terms(
            queue_id=queue_id, at=at, duration_seconds=duration_seconds, calendar=calendar
        )
        in_business_hours = open_now if in_business_hours is None else in_business_hours
        business_seconds = business if business_seconds is None else business_seconds
    short_abandon = context.short_abandon_seconds if context is not None else None
    if kind == EventKind.ABANDONED:
        if short_abandon is None:
            short_abandon = queue_settings(queue_id).short_abandon_seconds
        if (duration_seconds or 0) < short_abandon:
            kind = EventKind.SHORT_ABANDONED
    event = ReportingEvent(
        kind=kind,
        at=at,
        bucket=bucket_of(at),
        queue_id=queue_id,
        channel_kind=channel_kind,
        channel_id=channel_id,
        intent_id=intent_id,
        agent_id=agent_id,
        customer_id=customer_id,
        conversation_id=conversation_id,
        in_business_hours=in_business_hours,
        duration_seconds=duration_seconds,
        business_seconds=business_seconds,
        handle_seconds=handle_seconds,
        score=score,
        meta=meta or {},
    )
    target = context.service_level_seconds if context is not None else None
    counters = counters_for(event, service_level_seconds=target)
    if followups.opens_with_contact(event, opens_case=opens_case):
        counters["cases"] = counters.get("cases", 0) + 1  # its case, opened by `follow` below
    buffer = _deferred.get()
    if deferrable and buffer is not None and not counters and event.kind == EventKind.CUSTOMER_MESSAGE:
        # Its values as its INSERT now would take them (`pre_save`), written at the flush.
        buffer.append((event, _row_of(event)))
        return event
    _insert(event, counters)
    followups.follow(
        event, opens_case=opens_case
    )  # FCR and channel attrition: marks this event makes on earlier ones, and theirs on it
    return event


INSERTED = [f for f in ReportingEvent._meta.concrete_fields if not f.primary_key]

# The field classes whose `get_db_prep_save` on PostgreSQL hands back a value of these exact types unchanged (every
# field of an event has a plain `pre_save`): `_row_of` passes such values as they are, and None for nullable ones,
# instead of Django's chain of calls per field (a fifth of what deferring a customer message's event cost).
_AS_IS: dict[type[Any], type[Any]] = {
    models.CharField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.BooleanField: bool,
    models.FloatField: float,
    models.DateTimeField: datetime,
}
_INSERTED_AS_IS = [(f, _AS_IS.get(type(f)), f.null) for f in INSERTED]


def _row_of(event: ReportingEvent) -> list[Any]:
    """`[f.get_db_prep_save(f.pre_save(event, True), connection) for f in INSERTED]` (see `_AS_IS`)."""
    if connection.vendor != "postgresql":
        return [f.get_db_prep_save(f.pre_save(event, True), connection) for f in INSERTED]
    row: list[Any] = []
    for model_field, as_is, null in _INSERTED_AS_IS:
        value = getattr(event, model_field.attname)
        if as_is is not None and (
            (value is None and null) or (type(value) is as_is and (as_is is not datetime or value.tzinfo is not None))
        ):
            row.append(value)
        else:
            row.append(model_field.get_db_prep_save(value, connection))
    return row


# The events `record` was allowed to defer, within `deferring()` (an ingest batch, interactions/inbound_bulk.py).
_deferred: ContextVar[list[tuple[ReportingEvent, list[Any]]] | None] = ContextVar("reporting_deferred", default=None)


@contextmanager
def deferring() -> Iterator[None]:
    """Within the block, deferrable events wait for `flush_deferred()` (PostgreSQL only); whoever opens the block
    flushes before it ends, or drops them with its rolled-back work."""
    if connection.vendor != "postgresql" or _deferred.get() is not None:
        yield
        return
    token = _deferred.set([])
    try:
        yield
    finally:
        _deferred.reset(token)


def flush_deferred() -> None:
    """The deferred events in one INSERT, then their follow-ups in one statement (reporting/followups.py), as each
    `record` would have written them one by one: they add nothing to a rollup, and contacts of one batch never
    change what another contact marks."""
    buffer = _deferred.get()
    if not buffer:
        return
    events = [event for event, _values in buffer]
    values = [value for _event, row in buffer for value in row]
    buffer.clear()
    with connection.cursor() as cursor:
        cursor.execute(_insert_many_sql(len(events)), values)
        for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
            event.pk = pk
            event._state.adding = False
    followups.follow_contacts(events)


@lru_cache(maxsize=64)
def _insert_many_sql(count: int) -> str:
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in INSERTED)
    row = "(" + ", ".join(["%s"] * len(INSERTED)) + ")"
    return f"INSERT INTO {ReportingEvent._meta.db_table} ({columns}) VALUES {', '.join([row] * count)} RETURNING id"


def _insert(event: ReportingEvent, counters: dict[str, float]) -> None:
    """event.save() and its rollup: one prepared INSERT … RETURNING on PostgreSQL, the rollup's upserts riding in
    the same statement as CTEs (the ORM's save machinery was a third of what recording a customer message cost in
    CPU, bench/reports.py ingest_message; the rollup was a second round trip)."""
    if connection.vendor != "postgresql":
        event.save()
        rollups.add(rollups.key_of(event), counters)
        return
    values = _row_of(event)
    ctes, params = rollups.upsert_ctes(rollups.key_of(event), counters)
    sql = f"WITH {ctes} {_insert_sql()}" if ctes else _insert_sql()
    with connection.cursor() as cursor:
        # Prepared once per connection and text (a few texts: one per set of counters added): parsing and planning
        # the INSERT with its rollup CTEs was most of its server CPU (0.86 → 0.59 ms, docs/performance-routing.md
        # round 6), paid by every customer message and every routing decision.
        prepared.execute(cursor, sql, params + values, owner="reporting")
        row = cursor.fetchone()
    event.pk = row[0] if row else None
    event._state.adding = False


@lru_cache(maxsize=1)
def _insert_sql() -> str:
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in INSERTED)
    placeholders = ", ".join(["%s"] * len(INSERTED))
    return f"INSERT INTO {ReportingEvent._meta.db_table} ({columns}) VALUES ({placeholders}) RETURNING id"


def counters_for(event: ReportingEvent, *, service_level_seconds: int | None = None) -> dict[str, float]:
    """The rollup additions one event makes. `service_level_seconds`: the queue's target when already read."""
    d = event.duration_seconds or 0.0
    c: dict[str, float] = {}
    k = event.kind
    if k == EventKind.OFFERED_TO_QUEUE:
        c["offered"] = 1
        c["offered_out_of_hours"] = int(not event.in_business_hours)
    elif k == EventKind.OFFERED_TO_AGENT:
        c["offered_to_agent"] = 1
    elif k == EventKind.ANSWERED:
        target = _target(event, service_level_seconds)
        c.update(answered=1, answer_wait_seconds=d, answered_in_target=int(d <= target))
        c["answer_wait_business_seconds"] = event.business_seconds if event.business_seconds is not None else d
    elif k == EventKind.ABANDONED:
        target = _target(event, service_level_seconds)
        c.update(abandoned=1, abandon_wait_seconds=d, abandoned_in_target=int(d <= target))
    elif k == EventKind.SHORT_ABANDONED:
        c["short_abandoned"] = 1
    elif k == EventKind.FIRST_RESPONSE:
        c.update(first_responses=1, first_response_seconds=d)
        c["first_response_business_seconds"] = event.business_seconds if event.business_seconds is not None else d
    elif k == EventKind.AGENT_REPLY:
        c.update(replies=1, reply_seconds=d)
    # customer_message is an event only: no KPI counts messages, and rolling every message of a queue into one
    # 15-minute row made that row's lock the hot spot of ingest (chat_e2e at 100 msg/s: p50 40 ms → 1.3 s).
    elif k == EventKind.TRANSFER_OUT:
        c["transfers_out"] = 1
    elif k == EventKind.TRANSFER_IN:
        c["transfers_in"] = 1
    elif k == EventKind.HOLD_STOP:
        c.update(holds=1, hold_seconds=d)
    elif k == EventKind.WRAPUP_START:
        c["talk_seconds"] = d
    elif k == EventKind.WRAPUP_STOP:
        c.update(wrapups=1, wrapup_seconds=d)
    elif k == EventKind.RESOLVED:
        c["resolved"] = 1
    elif k == EventKind.REOPENED:
        c["reopened"] = 1
    elif k == EventKind.SURVEY_SENT:
        c["surveys_sent"] = 1
    elif k == EventKind.SURVEY_ANSWERED:
        c.update(_survey_counters(event.meta))
    elif k == EventKind.CALLBACK_REQUESTED:
        c["callbacks_requested"] = 1
    elif k == EventKind.CALLBACK_COMPLETED:
        c["callbacks_completed"] = 1
    elif k == EventKind.AGENT_STAFFED:
        c.update(staffed_seconds=d, chat_slot_seconds=d * int(event.meta.get("chat_slots", 0)))
    if event.handle_seconds is not None:
        c.update(handled=1, handle_seconds=event.handle_seconds)
        if event.channel_kind == "chat":
            c["chat_handle_seconds"] = event.handle_seconds
    return c


def _target(event: ReportingEvent, known: int | None) -> int:
    return queue_settings(event.queue_id).service_level_seconds if known is None else known


def _survey_counters(meta: dict[str, Any]) -> dict[str, float]:
    c: dict[str, float] = {"surveys_answered": 1}
    if meta.get("csat") is not None:
        c.update(csat_answers=1, csat_satisfied=int(meta["csat"] >= 4))
    if meta.get("nps") is not None:
        c.update(nps_answers=1, nps_promoters=int(meta["nps"] >= 9), nps_detractors=int(meta["nps"] <= 6))
    if meta.get("ces") is not None:
        c.update(ces_answers=1, ces_total=meta["ces"], ces_easy=int(meta["ces"] >= 5))
    return c


def add_to_rollup(event: ReportingEvent) -> None:
    rollups.add(rollups.key_of(event), counters_for(event))
