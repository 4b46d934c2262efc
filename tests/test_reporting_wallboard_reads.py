"""The wallboard's collapsed reads give the same figures as the per-queue selectors they replace, in a fixed, small
number of queries whatever the number of queues."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from interactions.models import Channel, Conversation
from reporting import wallboard, wallboard_reads
from reporting.events import bucket_of, record
from reporting.models import EventKind, QueueReportingSettings
from routing.models import AgentProfile, Queue
from routing.selectors import supervisor_overview


@pytest.fixture(autouse=True)
def fresh_aht() -> None:
    wallboard_reads.forget_cached_aht()


def test_it_matches_routings_live_queue_figures(
    alice: Any, oscar: Any, support_queue: Queue, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    Queue.objects.filter(pk=support_queue.pk).update(sla_first_response_minutes=10, sla_warning_percent=50)
    email = Channel.objects.create(kind=Channel.Kind.EMAIL, name="Billing mailbox", queue=billing_queue)
    AgentProfile.objects.update(presence=AgentProfile.Presence.OFFLINE)
    waiting = [arrive(chat_channel) for _ in range(3)] + [arrive(email)]
    Conversation.objects.filter(pk=waiting[0].pk).update(sla_warned_at=timezone.now())
    Conversation.objects.filter(pk=waiting[1].pk).update(first_response_due_at=timezone.now() + timedelta(minutes=4))
    # Alice comes back with two chat slots, one taken: routing has not run since, so the items still wait.
    AgentProfile.objects.filter(user=alice).update(
        presence=AgentProfile.Presence.AVAILABLE, takes_work=True, chat_capacity=2, chat_load=1
    )
    now = timezone.now()
    ours = {row["queue"].pk: row for row in wallboard_reads.live_queues(now=now)}
    theirs = {row["queue"].pk: row for row in supervisor_overview()["queues"]}
    assert set(ours) == set(theirs) == {support_queue.pk, billing_queue.pk}
    for pk, row in theirs.items():
        ewts = [e["ewt_seconds"] for e in row["ewt"] if e["ewt_seconds"] is not None]
        assert ours[pk]["waiting"] == row["waiting"]
        assert abs(ours[pk]["longest_wait_seconds"] - row["longest_wait_seconds"]) <= 1
        assert ours[pk]["at_risk"] == row["at_risk"]
        assert ours[pk]["ewt_seconds"] == (round(max(ewts)) if ewts else None)
    support = ours[support_queue.pk]
    # 3 waiting chats, a new one is 4th; 1 free slot; 1 agent; default AHT 300 s → (4 − 1) × 300 ÷ 1.
    assert support["waiting"] == 3 and support["ewt_seconds"] == 900
    # Warned, and due in 4 min within the warning window (10 min × 50 % = 5 min): 2 at risk.
    assert support["at_risk"] == 2
    assert ours[billing_queue.pk]["waiting"] == 1 and ours[billing_queue.pk]["ewt_seconds"] is None  # nobody


def test_it_counts_a_case_at_risk_once_and_never_a_resolved_one(
    support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    Queue.objects.filter(pk=support_queue.pk).update(sla_first_response_minutes=10, sla_warning_percent=50)
    soon, later = timezone.now() + timedelta(minutes=4), timezone.now() + timedelta(hours=3)
    flagged_and_due, answered_due, resolved_due, far, flagged_far = (arrive(chat_channel) for _ in range(5))
    Conversation.objects.filter(pk=flagged_and_due.pk).update(sla_breached_at=timezone.now(), resolution_due_at=soon)
    # A first response already given no longer makes the case due by its first-response time; its next one does.
    Conversation.objects.filter(pk=answered_due.pk).update(
        first_response_at=timezone.now(), first_response_due_at=soon, next_response_due_at=soon
    )
    Conversation.objects.filter(pk=resolved_due.pk).update(
        status=Conversation.Status.RESOLVED, first_response_due_at=soon, sla_warned_at=timezone.now()
    )
    Conversation.objects.filter(pk=far.pk).update(first_response_due_at=later, resolution_due_at=later)
    Conversation.objects.filter(pk=flagged_far.pk).update(sla_warned_at=timezone.now(), resolution_due_at=later)
    ours = {row["queue"].pk: row for row in wallboard_reads.live_queues(now=timezone.now())}
    theirs = {row["queue"].pk: row for row in supervisor_overview()["queues"]}
    assert ours[support_queue.pk]["at_risk"] == theirs[support_queue.pk]["at_risk"] == 3


def test_it_takes_the_ewt_handle_time_from_the_last_weeks_rollups(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    AgentProfile.objects.update(presence=AgentProfile.Presence.OFFLINE)
    arrive(chat_channel)
    AgentProfile.objects.filter(user=alice).update(
        presence=AgentProfile.Presence.AVAILABLE, takes_work=True, chat_capacity=1, chat_load=1
    )
    now = timezone.now()
    for seconds in (100, 200):  # AHT = 300 ÷ 2 = 150 s
        record(
            kind=EventKind.RESOLVED,
            at=now - timedelta(days=2),
            queue_id=support_queue.pk,
            channel_kind="chat",
            agent_id=alice.pk,
            handle_seconds=seconds,
        )
    record(  # older than a week: not counted
        kind=EventKind.RESOLVED, at=now - timedelta(days=9), queue_id=support_queue.pk, channel_kind="chat",
        agent_id=alice.pk, handle_seconds=5000,
    )  # fmt: skip
    (support,) = [r for r in wallboard_reads.live_queues(now=now) if r["queue"].pk == support_queue.pk]
    assert support["ewt_seconds"] == 300  # position 2 × 150 s ÷ 1 agent, no free slot


def test_it_sums_todays_rollups_like_the_report_does(alice: Any, oscar: Any, support_queue: Queue) -> None:
    QueueReportingSettings.objects.create(queue=support_queue, service_level_seconds=20)
    now = timezone.now()
    start = wallboard.start_of_today(now)
    for agent, wait in ((alice, 10), (alice, 40), (oscar, 5)):
        record(kind=EventKind.OFFERED_TO_QUEUE, queue_id=support_queue.pk, channel_kind="chat")
        record(
            kind=EventKind.ANSWERED,
            queue_id=support_queue.pk,
            channel_kind="chat",
            agent_id=agent.pk,
            duration_seconds=wait,
        )
    record(kind=EventKind.ABANDONED, queue_id=support_queue.pk, channel_kind="chat", duration_seconds=60)
    end = bucket_of(now) + timedelta(minutes=15)
    rollups = wallboard_reads.todays_rollups(start=start, end=end)
    (queue_row,) = [r for r in rollups["queue"] if r["queue_id"] == support_queue.pk]
    assert (queue_row["offered"], queue_row["answered"], queue_row["answered_in_target"]) == (3, 3, 2)
    assert queue_row["abandoned"] == 1 and queue_row["answer_wait_seconds"] == 55
    by_agent = {r["agent_id"]: r["answered"] for r in rollups["agent"]}
    assert by_agent[alice.pk] == 2 and by_agent[oscar.pk] == 1
    assert sum(r["offered"] for r in rollups["period"]) == 3
    tile = next(q for q in wallboard.figures(now=now)["queues"] if q["id"] == support_queue.pk)
    assert tile["service_level"] == pytest.approx(round(2 / 4, 3))  # 2 in 20 s ÷ (3 answered + 1 abandoned)
    assert tile["asa_seconds"] == pytest.approx(18.3)


def test_it_reads_the_wallboard_in_a_fixed_number_of_queries(
    alice: Any, oscar: Any, support_queue: Queue, billing_queue: Queue, sophie: Any
) -> None:
    wallboard.figures()  # warm the AHT cache, as a running process has it
    with CaptureQueriesContext(connection) as two_queues:
        wallboard.figures()
    for n in range(5):
        Queue.objects.create(name=f"Extra {n}", channel_kinds=["chat", "email", "voice"])
    with CaptureQueriesContext(connection) as seven_queues:
        wallboard.figures()
    assert len(seven_queues) == len(two_queues) <= 8
