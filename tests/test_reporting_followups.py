"""FCR and channel attrition kept as rollup counters are exact whatever order the events are written in.

A small history of contacts and resolutions (three customers, three channel kinds, resolutions near the 7-day edge,
reopened cases, cases offered twice) is recorded in shuffled orders; the counters must equal the definitions of
docs/kpis.md worked out here by brute force over the same events, and the seeding SQL must derive the same counters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Sum

from reporting import kpis
from reporting.events import record
from reporting.followups import _case_from_events
from reporting.models import EventKind, IntervalStat, RepeatedResolution, ReportingCase
from reporting.seeding import derive_followups

pytestmark = pytest.mark.django_db
K = EventKind
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WIDE = (T0 - timedelta(days=30), T0 + timedelta(days=60))


@dataclass(frozen=True)
class Ev:
    kind: str
    minute: int
    conversation: int
    customer: int
    channel: str

    @property
    def at(self) -> datetime:
        return T0 + timedelta(minutes=self.minute)


def history(seed: int) -> list[Ev]:
    """Conversations 1–8 of customers 1–3, each offered on its kind (some twice, later on voice), with messages,
    resolutions and reopens; other customers' contacts fall inside, at and beyond the 7-day FCR window."""
    rng = random.Random(seed)
    kinds = ["chat", "email", "sms"]
    events: list[Ev] = []
    minutes = rng.sample(range(0, 20 * 24 * 60), 200)  # distinct instants: no ties to break
    for conversation in range(1, 9):
        customer, kind = 1 + conversation % 3, kinds[conversation % 3]
        offered = minutes.pop()
        events.append(Ev(K.OFFERED_TO_QUEUE, offered, conversation, customer, kind))
        if conversation % 4 == 0:  # a call into the same case later
            events.append(Ev(K.OFFERED_TO_QUEUE, offered + rng.randint(1, 600), conversation, customer, "voice"))
        for _ in range(rng.randint(0, 3)):
            events.append(Ev(K.CUSTOMER_MESSAGE, offered + rng.randint(-100, 3000), conversation, customer, kind))
        for _ in range(rng.randint(0, 2)):  # two: resolved, reopened, resolved again
            events.append(Ev(K.RESOLVED, offered + rng.randint(-50, 4000), conversation, customer, kind))
    # A resolution exactly 7 days before a contact (repeat) and one 7 days and a minute before (not).
    events += [Ev(K.RESOLVED, 30_000, 20, 4, "chat"), Ev(K.CUSTOMER_MESSAGE, 30_000 + 7 * 1440, 21, 4, "email")]
    events += [Ev(K.RESOLVED, 31_000, 22, 5, "chat"), Ev(K.OFFERED_TO_QUEUE, 31_001 + 7 * 1440, 23, 5, "sms")]
    rng.shuffle(events)
    return events


def expected(events: list[Ev]) -> tuple[int, int, int, int]:
    """(resolutions repeated, resolutions, cases attrited, cases) by docs/kpis.md's definitions."""
    contacts = [e for e in events if e.kind in (K.OFFERED_TO_QUEUE, K.CUSTOMER_MESSAGE)]
    resolutions = [e for e in events if e.kind == K.RESOLVED]
    repeated = sum(
        any(c.customer == r.customer and r.minute < c.minute <= r.minute + 7 * 1440 for c in contacts)
        for r in resolutions
    )
    attrited = cases = 0
    for conversation in {e.conversation for e in events if e.kind == K.OFFERED_TO_QUEUE}:
        offer = min((e for e in contacts if e.conversation == conversation and e.kind == K.OFFERED_TO_QUEUE),
                    key=lambda e: e.minute)  # fmt: skip
        ends = [r.minute for r in resolutions if r.conversation == conversation and r.minute >= offer.minute]
        end = min(ends) if ends else None
        cases += 1
        attrited += any(
            c.customer == offer.customer
            and c.channel != offer.channel
            and offer.minute < c.minute
            and (end is None or c.minute < end)
            for c in contacts
        )
    return repeated, len(resolutions), attrited, cases


def write(events: list[Ev], *, opening: bool = False) -> int:
    """Record `events` in their order. `opening`: each conversation's offer written first among its events is marked
    as opening its case (as a new case's offer is, reporting/transitions.py `conversation_offered`); how many were."""
    seen: set[int] = set()
    opened = 0
    for e in events:
        opens = opening and e.kind == K.OFFERED_TO_QUEUE and e.conversation not in seen
        seen.add(e.conversation)
        opened += opens
        record(
            kind=e.kind,
            at=e.at,
            conversation_id=e.conversation,
            customer_id=e.customer,
            channel_kind=e.channel,
            queue_id=None,
            agent_id=0,
            opens_case=opens,
        )
    return opened


def counted() -> tuple[int, int, int, int]:
    first, resolved = kpis.first_contact_resolution(start=WIDE[0], end=WIDE[1])
    attrited, cases = kpis.channel_attrition(start=WIDE[0], end=WIDE[1])
    return resolved - first, resolved, attrited, cases


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_it_keeps_fcr_and_attrition_exact_whatever_the_order_events_arrive_in(seed: int) -> None:
    events = history(seed)
    want = expected(events)
    assert want[0] > 0 and want[2] > 0, "the history exercises both marks"
    write(events)
    assert counted() == want
    # Each case's counters sit in the row of its first offer, never twice.
    assert IntervalStat.objects.aggregate(c=Sum("cases"))["c"] == ReportingCase.objects.count()


def test_it_marks_a_resolution_repeated_once_however_many_contacts_follow() -> None:
    write([Ev(K.RESOLVED, 0, 1, 1, "chat")])
    write([Ev(K.CUSTOMER_MESSAGE, m, 2, 1, "email") for m in (10, 20, 30)])
    write([Ev(K.OFFERED_TO_QUEUE, 5, 3, 1, "sms")])  # arrives late, between resolution and the messages
    assert kpis.first_contact_resolution(start=WIDE[0], end=WIDE[1]) == (0, 1)
    assert RepeatedResolution.objects.count() == 1


def test_it_moves_a_case_to_its_earlier_first_offer_and_shortens_it_at_an_earlier_resolution() -> None:
    write([Ev(K.OFFERED_TO_QUEUE, 100, 1, 1, "chat"), Ev(K.CUSTOMER_MESSAGE, 200, 2, 1, "email")])
    assert kpis.channel_attrition(start=WIDE[0], end=WIDE[1]) == (1, 1)
    write([Ev(K.RESOLVED, 150, 1, 1, "chat")])  # resolved before the e-mail: not attrited after all
    assert kpis.channel_attrition(start=WIDE[0], end=WIDE[1]) == (0, 1)
    write([Ev(K.OFFERED_TO_QUEUE, 3, 1, 1, "chat")])  # an earlier offer: the case now starts in another bucket
    bucket = T0.replace(minute=0)
    assert IntervalStat.objects.get(bucket=bucket, channel_kind="chat", agent_id=0).cases == 1
    assert IntervalStat.objects.aggregate(c=Sum("cases"))["c"] == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the seeding SQL is PostgreSQL's")
def test_it_derives_the_same_counters_in_the_seeding_sql() -> None:
    write(history(7))
    names = ("resolutions_repeated", "cases", "cases_attrited")
    kept = {(r.bucket, r.channel_kind): tuple(getattr(r, n) for n in names) for r in IntervalStat.objects.all()}
    RepeatedResolution.objects.all().delete()
    ReportingCase.objects.all().delete()
    IntervalStat.objects.update(resolutions_repeated=0, cases=0, cases_attrited=0)
    with connection.cursor() as cursor:
        derive_followups(cursor)
    derived = {(r.bucket, r.channel_kind): tuple(getattr(r, n) for n in names) for r in IntervalStat.objects.all()}
    assert derived == kept and any(v != (0, 0, 0) for v in kept.values())


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_it_opens_a_new_conversations_case_with_its_offer_as_settling_it_from_the_events_would(seed: int) -> None:
    events = history(seed)
    assert write(events, opening=True) > 0
    assert counted() == expected(events)
    assert IntervalStat.objects.aggregate(c=Sum("cases"))["c"] == ReportingCase.objects.count()
    for case in ReportingCase.objects.all():
        settled = _case_from_events(case.conversation_id)
        assert settled is not None and {name: getattr(case, name) for name in settled} == settled


def test_it_opens_a_case_attrited_when_a_later_contact_elsewhere_is_already_stored() -> None:
    write([Ev(K.CUSTOMER_MESSAGE, 200, 2, 1, "email"), Ev(K.CUSTOMER_MESSAGE, 300, 3, 1, "chat")])
    assert write([Ev(K.OFFERED_TO_QUEUE, 100, 1, 1, "chat")], opening=True) == 1
    assert ReportingCase.objects.get(conversation_id=1).attrited
    assert kpis.channel_attrition(start=WIDE[0], end=WIDE[1]) == (1, 1)
    row = IntervalStat.objects.get(bucket=T0 + timedelta(minutes=90), channel_kind="chat", agent_id=0)
    assert (row.cases, row.cases_attrited) == (1, 1)
    assert write([Ev(K.OFFERED_TO_QUEUE, 400, 4, 1, "chat")], opening=True) == 1  # nothing after it: not attrited
    assert kpis.channel_attrition(start=WIDE[0], end=WIDE[1]) == (1, 2)
