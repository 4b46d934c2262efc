"""FCR and channel attrition kept incrementally, as rollup counters, whatever order the events arrive in.

Both KPIs relate one event to later ones of the same customer, so an event may change the counters of an earlier
event's row. `follow(event)` runs after every `record()` of a contact (offer to a queue, customer message) or a
resolution, in the same transaction, and keeps these invariants over the events stored so far (docs/kpis.md):

- FCR: a resolution R of customer C is marked repeated (one `RepeatedResolution` row, primary key R: once) when a
  contact of C exists at (R.at, R.at + N days]; `resolutions_repeated` in R's rollup row counts the marks. Checked
  from both sides: a new resolution looks for later contacts, a new contact for earlier unmarked resolutions.
- Attrition: a case is a conversation from its first offer O to its first resolution at or after O.at
  (`ReportingCase`); it is attrited when a contact of its customer on another channel kind exists at
  (O.at, resolution) (unbounded while unresolved). `cases` / `cases_attrited` count them in O's rollup row. A new
  contact can only attrite open cases (one UPDATE); a new offer or resolution of the conversation re-settles its case
  (an earlier offer moves it, an earlier resolution shortens it) and applies the difference.

Concurrency: the checks of two transactions must see each other, so writers of one customer take a transaction
lock on that customer first (PostgreSQL advisory lock) — the later one reads after the earlier commits.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from reporting import rollups
from reporting.models import EventKind, RepeatedResolution, ReportingCase, ReportingEvent

CONTACTS = (EventKind.OFFERED_TO_QUEUE.value, EventKind.CUSTOMER_MESSAGE.value)
RESOLVED = EventKind.RESOLVED.value
LOCK_NAMESPACE = 7_212  # pg_advisory_xact_lock(namespace, key): reporting's per-customer lock


def fcr_days() -> int:
    """N of FCR: a contact within N days after a resolution makes it repeated (OMNIDESK_FCR_DAYS, default 7). Marks
    are made when events are written, so a change applies to the events written from then on."""
    return int(getattr(settings, "OMNIDESK_FCR_DAYS", 7))


def opens_with_contact(event: ReportingEvent, *, opens_case: bool) -> bool:
    """Whether `follow` opens the case of `event`, the offer of a conversation created in this very transaction
    (`opens_case`), in the statement of its contact marks. Such a case is the offer's alone (no other event of the
    conversation, no case row yet), so `settle_case` has nothing to read; its count in the offer's rollup row then
    rides with the offer's own rollup (reporting/events.py `record`). PostgreSQL only (data-modifying CTEs)."""
    return (
        opens_case
        and connection.vendor == "postgresql"
        and event.kind == EventKind.OFFERED_TO_QUEUE
        and event.conversation_id is not None
        and event.customer_id is not None
    )


def follow(event: ReportingEvent, *, opens_case: bool = False) -> None:
    """`opens_case`: see `opens_with_contact` (a new case's offer: 3 statements here instead of 7)."""
    if event.kind not in CONTACTS and event.kind != RESOLVED:
        return
    if event.kind == RESOLVED:
        if event.customer_id is not None:
            _lock_customer(event.customer_id)
            _mark_if_repeated(event)
        if event.conversation_id is not None:
            _resolution_of_case(event, event.conversation_id)
        return
    if opens_with_contact(event, opens_case=opens_case):
        _contact_in_one_statement(event, opens_case=True)
        return
    if event.customer_id is not None:
        _contact(event)  # takes the customer's lock
    if event.kind == EventKind.OFFERED_TO_QUEUE and event.conversation_id is not None:
        _offer_of_case(event, event.conversation_id)


LOCK = "SELECT pg_advisory_xact_lock(%s, %s)"


def _lock_args(customer_id: int) -> list[int]:
    return [LOCK_NAMESPACE, customer_id % 2_147_483_647]


def _lock_customer(customer_id: int) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite (development only) serialises writers itself
    with connection.cursor() as cursor:
        cursor.execute(LOCK, _lock_args(customer_id))


def _events() -> str:
    return ReportingEvent._meta.db_table


def _mark_if_repeated(resolution: ReportingEvent) -> None:
    """A resolution written after a contact that repeats it (a late or back-dated resolution)."""
    later = ReportingEvent.objects.filter(
        customer_id=resolution.customer_id,
        kind__in=CONTACTS,
        at__gt=resolution.at,
        at__lte=resolution.at + timedelta(days=fcr_days()),
    )
    if later.exists():
        _, created = RepeatedResolution.objects.get_or_create(resolution_id=resolution.pk)
        if created:
            rollups.add(rollups.key_of(resolution), {"resolutions_repeated": 1})


def _contact(contact: ReportingEvent) -> None:
    if connection.vendor == "postgresql":
        _contact_in_one_statement(contact)
    else:
        _contact_step_by_step(contact)


def _contact_step_by_step(contact: ReportingEvent) -> None:
    """`_contact_in_one_statement` where data-modifying CTEs do not exist (SQLite, the embedded default): the same
    marks, exact because SQLite serialises writers (the transaction holds the write lock from BEGIN)."""
    at, customer = contact.at, contact.customer_id
    resolutions = ReportingEvent.objects.filter(
        customer_id=customer, kind=RESOLVED, at__gte=at - timedelta(days=fcr_days()), at__lt=at
    ).exclude(pk__in=RepeatedResolution.objects.values("resolution_id"))
    for resolution in resolutions:
        _, created = RepeatedResolution.objects.get_or_create(resolution_id=resolution.pk)
        if created:
            rollups.add(rollups.key_of(resolution), {"resolutions_repeated": 1})
    open_elsewhere = (
        ReportingCase.objects.filter(customer_id=customer, attrited=False, offered_at__lt=at)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=at))
        .exclude(channel_kind=contact.channel_kind)
    )
    for case in open_elsewhere:
        if ReportingCase.objects.filter(pk=case.pk, attrited=False).update(attrited=True):
            rollups.add(_case_key(case.__dict__), {"cases_attrited": 1})


def _contact_in_one_statement(contact: ReportingEvent, *, opens_case: bool = False) -> None:
    """One statement: mark the customer's unmarked resolutions in [at − N days, at) repeated, and attrite their open
    cases first offered before `at` on another channel kind; the rollups then take what it returns.

    `opens_case` (see `opens_with_contact`): the offer's case is inserted by the same statement, as `settle_case`
    would have made it from its only event: offered at the offer, unresolved, attrited when a contact of the customer
    on another channel kind is stored after the offer (then counted in the offer's rollup row; its `cases` was)."""
    repeated, cases = RepeatedResolution._meta.db_table, ReportingCase._meta.db_table
    key = ", ".join(rollups.KEY)
    opened_cte = opened_rows = ""
    at, customer = contact.at, contact.customer_id
    assert customer is not None
    since = at - timedelta(days=fcr_days())
    params: list[Any] = [customer, RESOLVED, since, at, customer, at, at, contact.channel_kind]
    if opens_case:
        bucket, queue_id, channel_kind, intent_id, agent_id = rollups.key_of(contact)
        opened_cte = f"""
        , opened AS (
            INSERT INTO {cases} (conversation_id, customer_id, offered_at, resolved_at, attrited, {key})
            SELECT %s, %s, %s, NULL, EXISTS (
                SELECT 1 FROM {_events()} WHERE customer_id = %s AND kind IN (%s, %s) AND at > %s
                    AND channel_kind <> %s
            ), %s, %s, %s, %s, %s
            RETURNING attrited, {key}
        )"""
        opened_rows = f"""
        UNION ALL SELECT 'cases_attrited', {key} FROM opened WHERE attrited"""
        params += [contact.conversation_id, customer, at, customer, *CONTACTS, at, channel_kind]
        params += [bucket, queue_id, channel_kind, intent_id, agent_id]
    sql = f"""
        WITH marked AS (
            INSERT INTO {repeated} (resolution_id)
            SELECT id FROM {_events()} WHERE customer_id = %s AND kind = %s AND at >= %s AND at < %s
            ON CONFLICT DO NOTHING RETURNING resolution_id
        ), attrited AS (
            UPDATE {cases} SET attrited = true
            WHERE customer_id = %s AND NOT attrited AND offered_at < %s AND (resolved_at IS NULL OR resolved_at > %s)
                AND channel_kind <> %s
            RETURNING {key}
        ){opened_cte}
        SELECT 'resolutions_repeated', e.bucket, coalesce(e.queue_id, 0), e.channel_kind, coalesce(e.intent_id, 0),
            coalesce(e.agent_id, 0)
        FROM marked JOIN {_events()} e ON e.id = marked.resolution_id
        UNION ALL SELECT 'cases_attrited', {key} FROM attrited{opened_rows}
    """
    # The customer's lock and the marks in one round trip (a message's whole cost here): two statements, the second
    # one's snapshot taken once the lock is held, as if sent apart.
    sql, params = f"{LOCK}; {sql}", [*_lock_args(customer), *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    _add_to_rollups(rows)


def _add_to_rollups(rows: list[tuple[Any, ...]]) -> None:
    """Rows of (counter, *rollup key), one per unit: one addition per key, of every counter it got."""
    additions: dict[rollups.Key, Counter[str]] = {}
    for counter, *row_key in rows:
        additions.setdefault(tuple(row_key), Counter())[counter] += 1
    for rollup_key, counters in additions.items():
        rollups.add(rollup_key, dict(counters))


def follow_contacts(contacts: list[ReportingEvent]) -> None:
    """`follow` of many customer messages (an ingest batch's, written together): the same marks as one by one, in
    one statement on PostgreSQL. A customer message only marks earlier resolutions and other channels' open cases,
    so the batch's messages never change what another one marks: their union is what they marked one by one."""
    contacts = [c for c in contacts if c.customer_id is not None and c.kind == EventKind.CUSTOMER_MESSAGE]
    if connection.vendor != "postgresql" or len(contacts) < 2:
        for contact in contacts:
            follow(contact)
        return
    repeated, cases = RepeatedResolution._meta.db_table, ReportingCase._meta.db_table
    key = ", ".join(f"rc.{column}" for column in rollups.KEY)
    days = timedelta(days=fcr_days())
    # The customers' locks in id order (one statement), then the marks (a second one, its snapshot taken once the
    # locks are held), in one round trip.
    sql = f"""
        SELECT pg_advisory_xact_lock(%s, (k %% 2147483647)::int)
        FROM (SELECT DISTINCT unnest(%s::bigint[]) AS k ORDER BY 1) AS customers;
        WITH c (customer_id, since, at, channel_kind) AS (
            SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::text[])
        ), marked AS (
            INSERT INTO {repeated} (resolution_id)
            SELECT DISTINCT e.id FROM {_events()} e JOIN c ON e.customer_id = c.customer_id
            WHERE e.kind = %s AND e.at >= c.since AND e.at < c.at
            ON CONFLICT DO NOTHING RETURNING resolution_id
        ), attrited AS (
            UPDATE {cases} AS rc SET attrited = true FROM c
            WHERE rc.customer_id = c.customer_id AND NOT rc.attrited AND rc.offered_at < c.at
                AND (rc.resolved_at IS NULL OR rc.resolved_at > c.at) AND rc.channel_kind <> c.channel_kind
            RETURNING {key}
        )
        SELECT 'resolutions_repeated', e.bucket, coalesce(e.queue_id, 0), e.channel_kind, coalesce(e.intent_id, 0),
            coalesce(e.agent_id, 0)
        FROM marked JOIN {_events()} e ON e.id = marked.resolution_id
        UNION ALL SELECT 'cases_attrited', {", ".join(rollups.KEY)} FROM attrited
    """
    customers = [c.customer_id for c in contacts]
    params: list[Any] = [
        LOCK_NAMESPACE,
        customers,
        customers,
        [c.at - days for c in contacts],
        [c.at for c in contacts],
        [c.channel_kind for c in contacts],
        RESOLVED,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    _add_to_rollups(rows)


def _resolution_of_case(resolution: ReportingEvent, conversation_id: int) -> None:
    """Only a resolution earlier than the case's known one (and not before its offer) changes the case."""
    case = ReportingCase.objects.filter(conversation_id=conversation_id).first()
    if case is None or resolution.at < case.offered_at:
        return
    if case.resolved_at is None or resolution.at < case.resolved_at:
        settle_case(conversation_id)


def _offer_of_case(offer: ReportingEvent, conversation_id: int) -> None:
    """A conversation's first offer opens its case; a later one changes nothing, an earlier one moves it."""
    case = ReportingCase.objects.filter(conversation_id=conversation_id).first()
    if case is None or offer.at < case.offered_at:
        settle_case(conversation_id, stored=case)


def _case_from_events(conversation_id: int) -> dict[str, Any] | None:
    """The case as the stored events define it: first offer, first resolution at or after it, attrited."""
    offer = (
        ReportingEvent.objects.filter(conversation_id=conversation_id, kind=EventKind.OFFERED_TO_QUEUE)
        .order_by("at", "pk")
        .first()
    )
    if offer is None:
        return None
    resolved_at: datetime | None = (
        ReportingEvent.objects.filter(conversation_id=conversation_id, kind=RESOLVED, at__gte=offer.at)
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )
    attrited = False
    if offer.customer_id is not None:
        elsewhere = ReportingEvent.objects.filter(
            customer_id=offer.customer_id, kind__in=CONTACTS, at__gt=offer.at
        ).exclude(channel_kind=offer.channel_kind)
        if resolved_at is not None:
            elsewhere = elsewhere.filter(at__lt=resolved_at)
        attrited = elsewhere.exists()
    bucket, queue_id, channel_kind, intent_id, agent_id = rollups.key_of(offer)
    return {
        "customer_id": offer.customer_id,
        "channel_kind": channel_kind,
        "offered_at": offer.at,
        "resolved_at": resolved_at,
        "attrited": attrited,
        "bucket": bucket,
        "queue_id": queue_id,
        "intent_id": intent_id,
        "agent_id": agent_id,
    }


def _case_key(fields: dict[str, Any]) -> rollups.Key:
    return (fields["bucket"], fields["queue_id"], fields["channel_kind"], fields["intent_id"], fields["agent_id"])


_UNREAD: Any = object()


def settle_case(conversation_id: int, *, stored: ReportingCase | None = _UNREAD) -> None:
    """Recompute a case from its events and apply the difference to the rollups (its old row, its new row).
    `stored`: the case's row as the caller just read it (None: there is none), under the customer's lock."""
    if stored is _UNREAD:
        stored = ReportingCase.objects.filter(conversation_id=conversation_id).first()
    fields = _case_from_events(conversation_id)
    deltas: dict[rollups.Key, Counter[str]] = {}
    if stored is not None:
        old = deltas.setdefault(_case_key(stored.__dict__), Counter())
        old["cases"] -= 1
        old["cases_attrited"] -= int(stored.attrited)
    if fields is not None:
        new = deltas.setdefault(_case_key(fields), Counter())
        new["cases"] += 1
        new["cases_attrited"] += int(fields["attrited"])
        # The row's key is the conversation, and its writers hold the customer's lock: INSERT it when there was
        # none, else UPDATE it, as update_or_create did without its SELECT and two savepoints (a new case's offer
        # paid 6 statements here).
        ReportingCase(conversation_id=conversation_id, **fields).save(force_insert=stored is None)
    for key, delta in deltas.items():
        rollups.add(key, dict(delta))
