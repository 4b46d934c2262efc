"""A scripted day of contacts on every channel; every KPI checked against figures worked out by hand below.

Events are written with `reporting.events.record` at fixed moments (the service hooks stamp "now"; their wiring is
covered in test_reporting_hooks.py). Queues: Support (target 20 s, short abandon 5 s, abandons against) and Billing
(target 30 s, abandons ignored). Day: Tuesday 1 December 2026, Europe/Paris (UTC+1).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reporting import kpis
from reporting.events import record
from reporting.models import AbandonTreatment, EventKind, IntervalStat, QueueReportingSettings, ReportingEvent
from routing.models import Intent, Queue
from tests.conftest import make_user

PARIS = ZoneInfo("Europe/Paris")
K = EventKind


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def day(support_queue: Queue, billing_queue: Queue, alice: Any) -> dict[str, Any]:
    bruno = make_user("bruno", queues=[support_queue, billing_queue])
    QueueReportingSettings.objects.create(queue=support_queue, service_level_seconds=20, short_abandon_seconds=5)
    QueueReportingSettings.objects.create(
        queue=billing_queue, service_level_seconds=30, abandon_treatment=AbandonTreatment.IGNORED
    )
    i1 = Intent.objects.create(key="delivery", name="Delivery")
    i2 = Intent.objects.create(key="refund", name="Refund")
    s, b = support_queue.pk, billing_queue.pk
    a, br = alice.pk, bruno.pk

    def ev(kind: str, when: datetime, conv: int, cust: int, ch: str, q: int | None = s, **kw: Any) -> None:
        record(kind=kind, at=when, conversation_id=conv, customer_id=cust, channel_kind=ch, queue_id=q, **kw)

    # c1: chat, customer 1 (A), Delivery, alice; a reopen later.
    ev(K.OFFERED_TO_QUEUE, at(9), 1, 1, "chat", intent_id=i1.pk)
    ev(K.CUSTOMER_MESSAGE, at(9), 1, 1, "chat", intent_id=i1.pk)
    ev(K.ANSWERED, at(9), 1, 1, "chat", intent_id=i1.pk, agent_id=a, duration_seconds=10)
    ev(K.FIRST_RESPONSE, at(9, 1), 1, 1, "chat", intent_id=i1.pk, agent_id=a, duration_seconds=30)
    ev(K.CUSTOMER_MESSAGE, at(9, 5), 1, 1, "chat", intent_id=i1.pk)
    ev(K.AGENT_REPLY, at(9, 6), 1, 1, "chat", intent_id=i1.pk, agent_id=a, duration_seconds=60)
    ev(K.RESOLVED, at(9, 30), 1, 1, "chat", intent_id=i1.pk, agent_id=a, handle_seconds=600)
    ev(K.SURVEY_SENT, at(9, 30), 1, 1, "chat", intent_id=i1.pk, agent_id=a)
    ev(K.SURVEY_ANSWERED, at(9, 32), 1, 1, "chat", intent_id=i1.pk, agent_id=a, meta={"csat": 5, "nps": 10, "ces": 6})
    # c2: email, customer 2 (B), Refund, alice; B also opens a chat (c8) before c2 is resolved: channel attrition.
    ev(K.OFFERED_TO_QUEUE, at(9, 10), 2, 2, "email", intent_id=i2.pk)
    ev(K.ANSWERED, at(9, 10), 2, 2, "email", intent_id=i2.pk, agent_id=a, duration_seconds=40)
    ev(K.FIRST_RESPONSE, at(9, 12), 2, 2, "email", intent_id=i2.pk, agent_id=a, duration_seconds=120)
    ev(K.RESOLVED, at(9, 40), 2, 2, "email", intent_id=i2.pk, agent_id=a, handle_seconds=900)
    ev(K.SURVEY_SENT, at(9, 40), 2, 2, "email", intent_id=i2.pk, agent_id=a)
    ev(K.SURVEY_ANSWERED, at(10), 2, 2, "email", intent_id=i2.pk, agent_id=a, meta={"csat": 3, "nps": 5, "ces": 3})
    # c8: chat, customer 2 (B), Refund, bruno.
    ev(K.OFFERED_TO_QUEUE, at(9, 20), 8, 2, "chat", intent_id=i2.pk)
    ev(K.ANSWERED, at(9, 20), 8, 2, "chat", intent_id=i2.pk, agent_id=br, duration_seconds=5)
    ev(K.FIRST_RESPONSE, at(9, 21), 8, 2, "chat", intent_id=i2.pk, agent_id=br, duration_seconds=15)
    ev(K.RESOLVED, at(9, 25), 8, 2, "chat", intent_id=i2.pk, agent_id=br, handle_seconds=120)
    # c3: voice, customer 3, Delivery, bruno: talk 200, hold 30, after-call work 60 → handle 290.
    ev(K.OFFERED_TO_QUEUE, at(10), 3, 3, "voice", intent_id=i1.pk)
    ev(K.ANSWERED, at(10), 3, 3, "voice", intent_id=i1.pk, agent_id=br, duration_seconds=15)
    ev(K.HOLD_START, at(10, 2), 3, 3, "voice", intent_id=i1.pk, agent_id=br)
    ev(K.HOLD_STOP, at(10, 3), 3, 3, "voice", intent_id=i1.pk, agent_id=br, duration_seconds=30)
    ev(K.WRAPUP_START, at(10, 5), 3, 3, "voice", intent_id=i1.pk, agent_id=br, duration_seconds=200)
    ev(K.WRAPUP_STOP, at(10, 6), 3, 3, "voice", intent_id=i1.pk, agent_id=br, duration_seconds=60, handle_seconds=290)
    ev(K.RESOLVED, at(10, 20), 3, 3, "voice", intent_id=i1.pk, agent_id=br)
    # c4: a caller gives up after 50 s; c5 after 3 s (a short abandon); c6 asks for a callback instead.
    ev(K.OFFERED_TO_QUEUE, at(10, 10), 4, 4, "voice")
    ev(K.ABANDONED, at(10, 11), 4, 4, "voice", duration_seconds=50)
    ev(K.OFFERED_TO_QUEUE, at(10, 12), 5, 5, "voice")
    ev(K.ABANDONED, at(10, 12), 5, 5, "voice", duration_seconds=3)
    ev(K.OFFERED_TO_QUEUE, at(10, 30), 6, 6, "voice")
    ev(K.CALLBACK_REQUESTED, at(10, 31), 6, 6, "voice")
    ev(K.CALLBACK_COMPLETED, at(14), 6, 6, "voice", agent_id=br)
    # c7: SMS, customer 1 (A) again within 7 days of c1 (not a first-contact resolution); alice → Billing (bruno).
    ev(K.OFFERED_TO_QUEUE, at(11), 7, 1, "sms", intent_id=i1.pk)
    ev(K.ANSWERED, at(11), 7, 1, "sms", intent_id=i1.pk, agent_id=a, duration_seconds=25)
    ev(K.TRANSFER_OUT, at(11, 5), 7, 1, "sms", intent_id=i1.pk, agent_id=a)
    ev(K.TRANSFER_IN, at(11, 5), 7, 1, "sms", q=b, intent_id=i1.pk, agent_id=br)
    ev(K.RESOLVED, at(11, 30), 7, 1, "sms", q=b, intent_id=i1.pk, agent_id=br, handle_seconds=300)
    ev(K.SURVEY_SENT, at(11, 30), 7, 1, "sms", q=b, intent_id=i1.pk, agent_id=br)
    ev(K.SURVEY_ANSWERED, at(11, 40), 7, 1, "sms", q=b, intent_id=i1.pk, agent_id=br, meta={"csat": 4})
    # c1 reopened by A, resolved again (handle 60).
    ev(K.CUSTOMER_MESSAGE, at(12), 1, 1, "chat", intent_id=i1.pk)
    ev(K.REOPENED, at(12), 1, 1, "chat", intent_id=i1.pk, agent_id=a)
    ev(K.RESOLVED, at(12, 10), 1, 1, "chat", intent_id=i1.pk, agent_id=a, handle_seconds=60)
    # c9: Billing chat abandoned after 45 s (Billing ignores abandons in its service level).
    ev(K.OFFERED_TO_QUEUE, at(15), 9, 9, "chat", q=b)
    ev(K.ABANDONED, at(15, 1), 9, 9, "chat", q=b, duration_seconds=45)
    # Staffed time: 8 h each; alice has 3 chat slots, bruno none.
    record(kind=K.AGENT_STAFFED, at=at(17), agent_id=a, duration_seconds=28800, meta={"chat_slots": 3})
    record(kind=K.AGENT_STAFFED, at=at(17), agent_id=br, duration_seconds=28800)
    # Outside the half-open day: the next local midnight, and one minute before the day.
    ev(K.OFFERED_TO_QUEUE, at(0, 0, day=2), 10, 10, "chat")
    ev(K.OFFERED_TO_QUEUE, datetime(2026, 11, 30, 23, 59, tzinfo=PARIS), 11, 11, "chat")
    return {"s": s, "b": b, "alice": a, "bruno": br, "i1": i1.pk, "i2": i2.pk}


def the_day() -> tuple[datetime, datetime]:
    return kpis.day_range(date(2026, 12, 1), date(2026, 12, 2), "Europe/Paris")


def test_it_computes_every_queue_kpi_as_worked_out_by_hand(day: dict[str, Any]) -> None:
    start, end = the_day()
    by_queue = kpis.compute(start=start, end=end, group_by="queue")
    support, billing = by_queue[day["s"]], by_queue[day["b"]]
    # Support: offered c1 c2 c3 c4 c5 c6 c7 c8 = 8; answered waits 10 40 15 25 5; within 20 s: 10, 15, 5.
    assert support["offered"] == 8
    assert support["answered"] == 5 and support["abandoned"] == 1 and support["short_abandoned"] == 1
    assert support["service_level"] == pytest.approx(3 / (5 + 1))
    assert support["asa_seconds"] == pytest.approx((10 + 40 + 15 + 25 + 5) / 5)
    assert support["abandonment_rate"] == pytest.approx(1 / (8 - 1))  # the callback is no abandon
    # Handled in Support: c1 600, c2 900, c8 120, c3 290 (voice: 200 + 30 + 60), c1 again 60.
    assert support["handled"] == 5
    assert support["aht_seconds"] == pytest.approx((600 + 900 + 120 + 290 + 60) / 5)
    assert support["talk_seconds"] == 200 and support["hold_seconds"] == 30 and support["wrapup_seconds"] == 60
    assert support["first_response_seconds"] == pytest.approx((30 + 120 + 15) / 3)
    assert support["reply_seconds"] == pytest.approx(60)
    assert support["transfer_rate"] == pytest.approx(1 / 5)
    assert support["resolved"] == 5 and support["reopen_rate"] == pytest.approx(1 / 5)
    assert support["survey_response_rate"] == 1.0
    assert support["csat"] == pytest.approx(1 / 2)  # 5 and 3
    assert support["nps"] == pytest.approx(0.0)  # one promoter (10), one detractor (5)
    assert support["ces_mean"] == pytest.approx(4.5) and support["ces_easy"] == pytest.approx(1 / 2)
    assert support["callbacks_requested"] == 1 and support["callbacks_completed"] == 1
    # Billing: only c9, abandoned after 45 s, and abandons are ignored: no service level at all (0 answered).
    assert billing["offered"] == 1 and billing["service_level"] is None
    assert billing["abandonment_rate"] == 1.0
    assert billing["aht_seconds"] == 300 and billing["csat"] == 1.0


def test_it_changes_the_service_level_with_the_abandon_treatment(day: dict[str, Any]) -> None:
    start, end = the_day()
    settings = QueueReportingSettings.objects.get(queue_id=day["s"])
    settings.abandon_treatment = AbandonTreatment.IGNORED
    settings.save()
    assert kpis.compute(start=start, end=end, group_by="queue")[day["s"]]["service_level"] == pytest.approx(3 / 5)
    settings.abandon_treatment = AbandonTreatment.IN_FAVOUR
    settings.save()
    # c4 abandoned after 50 s > 20 s: counted, but not as met.
    assert kpis.compute(start=start, end=end, group_by="queue")[day["s"]]["service_level"] == pytest.approx(3 / 6)


def test_it_computes_each_agents_kpis(day: dict[str, Any]) -> None:
    start, end = the_day()
    by_agent = kpis.compute(start=start, end=end, group_by="agent")
    alice, bruno = by_agent[day["alice"]], by_agent[day["bruno"]]
    # alice: answered c1 10, c2 40, c7 25; handled c1 600 (chat), c2 900 (email), c1 60 (chat).
    assert alice["answered"] == 3 and alice["asa_seconds"] == pytest.approx(75 / 3)
    assert alice["aht_seconds"] == pytest.approx(1560 / 3)
    assert alice["occupancy"] == pytest.approx(900 / 28800)  # serial work only
    assert alice["slot_utilisation"] == pytest.approx(660 / (28800 * 3))
    assert alice["transfer_rate"] == pytest.approx(1 / 3)
    assert alice["csat"] == pytest.approx(1 / 2)
    # bruno: handled c8 120 (chat), c3 290 (voice), c7 300 (SMS, in Billing).
    assert bruno["handled"] == 3 and bruno["aht_seconds"] == pytest.approx(710 / 3)
    assert bruno["occupancy"] == pytest.approx((290 + 300) / 28800)
    assert bruno["slot_utilisation"] is None  # no chat slots staffed
    assert bruno["csat"] == 1.0


def test_it_computes_each_intents_kpis(day: dict[str, Any]) -> None:
    start, end = the_day()
    by_intent = kpis.compute(start=start, end=end, group_by="intent")
    delivery, refund = by_intent[day["i1"]], by_intent[day["i2"]]
    # Delivery: c1 10, c3 15, c7 25 → 2 of 3 within 20 s; Refund: c2 40, c8 5 → 1 of 2.
    assert delivery["offered"] == 3 and delivery["service_level"] == pytest.approx(2 / 3)
    assert delivery["asa_seconds"] == pytest.approx(50 / 3)
    assert refund["service_level"] == pytest.approx(1 / 2) and refund["asa_seconds"] == pytest.approx(22.5)
    assert by_intent[0]["abandoned"] == 2  # c4 (Support) and c9 (Billing), no intent


def test_it_computes_fcr_and_channel_attrition_across_channels(day: dict[str, Any]) -> None:
    start, end = the_day()
    # Resolutions: c8 B, c1 A (A writes by SMS at 11:00: repeat), c2 B, c3 C, c7 A (A writes at 12:00: repeat),
    # c1 A again → 4 of 6 without a repeat contact within 7 days.
    assert kpis.first_contact_resolution(start=start, end=end) == (4, 6)
    # Cases offered: c1..c9; only c2 (email) saw its customer open a chat (c8) before it was resolved.
    assert kpis.channel_attrition(start=start, end=end) == (1, 9)


def test_it_keeps_the_range_half_open_in_the_supervisors_time_zone(day: dict[str, Any]) -> None:
    start, end = the_day()
    total = kpis.compute(start=start, end=end)[None]
    assert total["offered"] == 9  # not c10 (next midnight) nor c11 (the minute before)
    per_day = kpis.by_period(
        start=start,
        end=kpis.day_range(date(2026, 12, 1), date(2026, 12, 3), "Europe/Paris")[1],
        tz="Europe/Paris",
        period="day",
    )
    assert per_day[date(2026, 12, 1)]["offered"] == 9 and per_day[date(2026, 12, 2)]["offered"] == 1


def test_it_rolls_events_up_into_fifteen_minute_buckets_and_keeps_events_immutable(day: dict[str, Any]) -> None:
    row = IntervalStat.objects.get(
        bucket=at(9), queue_id=day["s"], channel_kind="chat", intent_id=day["i1"], agent_id=0
    )
    # 09:00 and 09:05 share the 09:00 bucket (customer messages are events only, never rolled up).
    assert row.offered == 1
    messages = ReportingEvent.objects.filter(kind="customer_message", bucket=at(9), queue_id=day["s"])
    assert messages.count() == 2
    event = ReportingEvent.objects.first()
    assert event is not None
    with pytest.raises(ValueError, match="immutable"):
        event.save()
