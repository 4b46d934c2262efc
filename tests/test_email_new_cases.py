"""A batch of mails opening new cases: routed as one at a time would, for fewer statements (issue 16).

Within a mail batch, new cases read the intents and their queue's skills once, and a case whose needs an earlier
new case of the batch could not meet does not look for an agent again (routing/new_items.py). These tests process
the same mails as one batch and one mail per batch (each its own transaction) and compare what routing made of them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from interactions import continuity, inbound, inbound_run
from interactions.mail.models import MessageReference
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, Conversation, Interaction
from reporting.models import EventKind, IntervalStat, RepeatedResolution, ReportingCase, ReportingEvent
from reporting.transitions import conversation_resolved
from routing import new_items
from routing.models import Assignment, Queue, RoutingItem
from tests.conftest import make_user
from tests.factories import customer_with_earlier_chat
from tests.mail_support import email_channel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def mail(sender: int, n: int, *, replies_to: int | None = None, domain: str = "example.com") -> bytes:
    parent = f"In-Reply-To: <case-{replies_to}@example.com>\r\n" if replies_to is not None else ""
    return (
        f"From: Customer {sender} <customer{sender}@{domain}>\r\nTo: support@example.com\r\n"
        f"Subject: Order {sender}\r\nDate: Tue, 01 Dec 2026 10:{n:02d}:00 +0100\r\n"
        f"Message-ID: <case-{n}@example.com>\r\n{parent}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nMessage {n}: where is my parcel?\r\n"
    ).encode()


def stored(channel: Channel, *, domain: str) -> list[int]:
    """Three new cases, a customer's reply in the middle (it continues their case), then three more new cases."""
    mails = [(1, 1, None), (2, 2, None), (3, 3, None), (1, 4, 1), (4, 5, None), (5, 6, None), (6, 7, None)]
    return [
        record_raw_mail(channel=channel, raw=mail(sender, n, replies_to=parent, domain=domain), source="test")[0].pk
        for sender, n, parent in mails
    ]


def routed(channel: Channel) -> list[tuple[str, str, str, str, int]]:
    """Per mail: its case's item state, the agent's name, why it waits, the continuity decision, assignments."""
    outcome = []
    for entry in Interaction.objects.filter(channel=channel).select_related("conversation").order_by("external_id"):
        item = RoutingItem.objects.select_related("agent").get(conversation=entry.conversation)
        outcome.append(
            (
                item.state,
                item.agent.first_name if item.agent else "",
                item.reason,
                entry.meta["continuity"],
                Assignment.objects.filter(conversation=entry.conversation).count(),
            )
        )
    return outcome


def mailbox_with_agent(name: str, *, capacity: int) -> Channel:
    queue = Queue.objects.create(name=f"Support {name}")
    make_user(name, queues=[queue], capacity={"email": capacity})
    return email_channel(queue, address=f"support-{name}@example.com")


def test_it_routes_a_batch_of_new_cases_as_one_mail_at_a_time_would() -> None:
    in_one_batch = mailbox_with_agent("alice", capacity=2)
    one_by_one = mailbox_with_agent("bruno", capacity=2)

    # Other senders for each mailbox: a customer is one person across channels, their cases would meet.
    inbound.process_claimed_events(event_ids=stored(in_one_batch, domain="a.example"))
    for event_id in stored(one_by_one, domain="b.example"):
        inbound.process_claimed_events(event_ids=[event_id])

    batch, alone = routed(in_one_batch), routed(one_by_one)
    # Alice and Bruno are each their mailbox's only agent: the same cases are theirs, the others wait, full.
    assert [(state, bool(agent), *rest) for state, agent, *rest in batch] == [
        (state, bool(agent), *rest) for state, agent, *rest in alone
    ]
    assert [state for state, *_rest in batch].count(RoutingItem.State.ASSIGNED) == 3, "two cases, and the reply's"
    assert {reason for state, _agent, reason, *_rest in batch if state == RoutingItem.State.WAITING} == {
        "all capable agents are full for Email"
    }


def test_it_reads_the_routing_configuration_once_per_batch_and_asks_for_a_full_agent_once() -> None:
    channel = mailbox_with_agent("alice", capacity=1)
    events = [record_raw_mail(channel=channel, raw=mail(n, n), source="test")[0].pk for n in range(1, 11)]

    with CaptureQueriesContext(connection) as queries:
        inbound.process_claimed_events(event_ids=events)

    statements = [query["sql"] for query in queries.captured_queries]
    assert RoutingItem.objects.filter(queue=channel.queue, state=RoutingItem.State.WAITING).count() == 9
    assert sum('FROM "routing_intent"' in sql for sql in statements) == 1
    assert sum("FROM routing_queue_required_skills" in sql for sql in statements) == 1
    # The agent's load is asked for the first case (assigned) and the second (full); then no more.
    assert sum('FROM "routing_agentprofile"' in sql for sql in statements) == 1, "one waiting reason for nine"
    assert len(statements) <= 16 * len(events) + 20, len(statements)


def test_it_forgets_what_failed_when_the_batch_is_redone_or_something_else_happened() -> None:
    with transaction.atomic(), new_items.batch_of_new_cases():
        with transaction.atomic():  # the run's savepoint
            failed = new_items.batch_failures()
            assert failed is not None
            failed[("needs",)] = "all capable agents are full for Email"
            assert new_items.batch_failures() == failed, "consecutive new cases share it"
            new_items.forget_failures()
            assert new_items.batch_failures() == {}, "after a continuing message"
            failed = new_items.batch_failures()
            assert failed is not None
            failed[("needs",)] = "full"
        with transaction.atomic():  # another savepoint: the batch redone one message at a time
            assert new_items.batch_failures() == {}
    assert new_items.batch_failures() is None, "outside a batch: route_item's own"


def test_it_routes_the_new_cases_again_when_a_poison_mail_makes_the_batch_go_one_by_one() -> None:
    # The run remembers that the third case found Alice full; the poison mail rolls the run back (her two cases
    # with it) and the batch is redone one mail at a time: the first cases must find her free again.
    channel = mailbox_with_agent("alice", capacity=2)
    events = [record_raw_mail(channel=channel, raw=mail(n, n), source="test")[0].pk for n in range(1, 4)]
    poison = inbound.record_inbound_event(channel=channel, external_id="poison", payload={}, provider="email")[0]

    inbound.process_claimed_events(event_ids=[*events, poison.pk])

    items = RoutingItem.objects.filter(queue=channel.queue).order_by("conversation_id")
    assert [item.state for item in items] == [RoutingItem.State.ASSIGNED] * 2 + [RoutingItem.State.WAITING]
    poison.refresh_from_db()
    assert poison.processed_at is None and "InvalidPayload" in poison.last_error


@pytest.fixture(params=["in bulk", "one by one"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The batch's bulk run, and the per-message path it falls back to (each message flushed as it goes)."""
    if request.param == "one by one":
        monkeypatch.setattr(inbound_run, "processed_in_one_run", lambda *args, **kwargs: False)
    return str(request.param)


def test_it_reports_new_cases_opened_among_continuing_mails_as_message_by_message(
    mode: str, alice: Any, support_queue: Queue, chat_channel: Channel
) -> None:
    # A new case no longer flushes what the batch deferred before it (its customer messages' reporting events and
    # follow-ups, its mail references): its offer, its reporting case and the follow-ups flushed after it must
    # still mark FCR and attrition as one message at a time does.
    channel = email_channel(support_queue)
    jeanne = customer_with_earlier_chat(chat_channel, text="Ma commande 4521")
    chat_case = Conversation.objects.create(customer=jeanne, channel=chat_channel, queue=support_queue)
    ReportingCase.objects.create(
        conversation_id=chat_case.pk,
        customer_id=jeanne.pk,
        channel_kind="chat",
        offered_at=timezone.now() - timedelta(hours=1),
        bucket=timezone.now() - timedelta(hours=1),
        queue_id=support_queue.pk,
    )
    resolved = Conversation.objects.create(customer=jeanne, channel=channel, queue=support_queue)
    resolved.status, resolved.resolved_at = Conversation.Status.RESOLVED, timezone.now() - timedelta(days=1)
    resolved.save()
    conversation_resolved(conversation=resolved)
    ReportingEvent.objects.filter(conversation_id=resolved.pk).update(at=resolved.resolved_at)
    first = [record_raw_mail(channel=channel, raw=mail(n, n), source="test")[0].pk for n in (1, 2)]
    inbound.process_claimed_events(event_ids=first)  # two open email cases
    raws = [
        mail(1, 3, replies_to=1),  # continues customer 1's case (deferred)
        mail(3, 4),  # a new case
        mail(2, 5, replies_to=2),  # continues customer 2's case (deferred)
        mail(0, 6).replace(b"customer0@example.com", b"jeanne@example.com"),  # Jeanne, deferred
        mail(1, 7),  # customer 1 again, unthreaded: a new case beside their open one
    ]
    events = [record_raw_mail(channel=channel, raw=raw, source="test")[0].pk for raw in raws]

    made = inbound.process_claimed_events(event_ids=events)

    entries = [made[event_id] for event_id in events]
    assert all(entry is not None for entry in entries)
    decisions = [entry.meta["continuity"] for entry in entries if entry is not None]
    # Jeanne's mail continues her open chat case (one customer across channels): the case used a second channel.
    assert decisions == [continuity.THREAD, continuity.NO_CASE, continuity.THREAD, continuity.OPEN_CASE, "unthreaded"]
    assert ReportingCase.objects.get(conversation_id=chat_case.pk).attrited, "Jeanne wrote by email: attrition"
    resolution = ReportingEvent.objects.get(kind=EventKind.RESOLVED, conversation_id=resolved.pk)
    assert RepeatedResolution.objects.filter(resolution_id=resolution.pk).count() == 1, "FCR: she came back"
    assert ReportingEvent.objects.filter(kind=EventKind.CUSTOMER_MESSAGE, channel_kind="email").count() == 7
    assert ReportingEvent.objects.filter(kind=EventKind.OFFERED_TO_QUEUE, channel_kind="email").count() == 4
    assert sorted(ReportingCase.objects.filter(channel_kind="email").values_list("attrited", flat=True)) == [False] * 4
    assert sum(IntervalStat.objects.filter(channel_kind="email").values_list("offered", flat=True)) == 4
    assert sum(IntervalStat.objects.filter(channel_kind="chat").values_list("cases_attrited", flat=True)) == 1
    assert MessageReference.objects.filter(conversation__channel=channel).count() == 7
