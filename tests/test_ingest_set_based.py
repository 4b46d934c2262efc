"""An ingest batch writes its continuing messages in bulk (issue 16, item 2): one UPDATE of their cases, one INSERT of
their entries, of their reporting events and of their follow-ups, whatever the batch's size; and it records exactly
what message-by-message processing records. When a bulk statement fails, the batch is redone message by message."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer, Identity
from interactions import continuity, inbound, inbound_claims, inbound_run
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from reporting.models import EventKind, RepeatedResolution, ReportingCase, ReportingEvent
from reporting.transitions import conversation_resolved
from routing.models import Queue
from tests.factories import chat
from tests.mail_support import fixture_bytes

pytestmark = pytest.mark.django_db


def sms(channel: Channel, number: str, text: str, *, sid: str = "", message_sid: str = "") -> InboundEvent:
    sid = sid or f"SM{uuid.uuid4().hex}"
    payload = {"MessageSid": message_sid or sid, "From": number, "To": "+33100000000", "Body": text}
    return inbound.record_inbound_event(channel=channel, external_id=sid, payload=payload, provider="twilio")[0]


def process_batch(channel: Channel) -> dict[int, Interaction | None]:
    claimed = inbound_claims.claim_inbound_events(event_id=0, channel_id=channel.pk, limit=100)
    assert len(claimed) > 1, "a batch, not a single event"
    return inbound.process_claimed_events(event_ids=claimed)


def sql_of(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


@pytest.fixture
def sms_channel(support_queue: Queue) -> Channel:
    return Channel.objects.create(kind=Channel.Kind.SMS, name="SMS", queue=support_queue)


@pytest.fixture(params=["in bulk", "one by one"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each behaviour test runs both ways: the bulk run, and the per-message path it falls back to."""
    if request.param == "one by one":
        monkeypatch.setattr(inbound_run, "processed_in_one_run", lambda *args, **kwargs: False)
    return str(request.param)


def open_chat_cases(channel: Channel, visitors: list[str]) -> None:
    for visitor in visitors:
        chat(channel, visitor, f"Hello, {visitor} here")
    process_batch(channel)


def test_a_batch_of_continuing_messages_costs_the_same_statements_at_any_size(
    alice: Any, chat_channel: Channel
) -> None:
    visitors = [f"vb-bulk-{n}" for n in range(6)]
    open_chat_cases(chat_channel, visitors)
    counts = []
    for rounds in (1, 3):
        for _ in range(rounds):
            for visitor in visitors:
                chat(chat_channel, visitor, "Any news?")
        with CaptureQueriesContext(connection) as captured:
            made = process_batch(chat_channel)
        assert len(made) == 6 * rounds and all(entry is not None for entry in made.values())
        sql = sql_of(captured)
        counts.append(len(sql))
        assert len([s for s in sql if s.startswith('INSERT INTO "interactions_interaction"')]) == 1
        assert len([s for s in sql if s.startswith('UPDATE "interactions_conversation"')]) == 1
        assert len([s for s in sql if s.startswith("INSERT INTO reporting_reportingevent")]) == 1
        assert len([s for s in sql if 'FROM "routing_routingitem"' in s]) == 1
    assert counts[0] == counts[1], f"6 and 18 messages: {counts}"


def test_continuing_messages_record_the_same_entries_cases_and_reports(
    mode: str, alice: Any, chat_channel: Channel, sms_channel: Channel, caplog: pytest.LogCaptureFixture
) -> None:
    carla = Customer.objects.create(display_name="Carla")
    Identity.objects.create(customer=carla, kind=Identity.Kind.WIDGET, address="vb-carla")
    Identity.objects.create(customer=carla, kind=Identity.Kind.PHONE, address="+33612345678")
    open_chat_cases(chat_channel, ["vb-carla", "vb-other"])
    case = Conversation.objects.get(customer=carla)
    # Carla's earlier case, resolved yesterday: a message today repeats it (FCR).
    earlier = Conversation.objects.create(customer=carla, channel=sms_channel, queue=case.queue)
    earlier.status, earlier.resolved_at = Conversation.Status.RESOLVED, timezone.now() - timedelta(days=1)
    earlier.save()
    conversation_resolved(conversation=earlier)
    ReportingEvent.objects.filter(conversation_id=earlier.pk).update(at=earlier.resolved_at)
    events = [sms(sms_channel, "+33612345678", "I'm writing by SMS now"), sms(sms_channel, "+33699999999", "Hi")]
    events.append(sms(sms_channel, "+33612345678", "Still waiting"))

    with caplog.at_level(logging.INFO, logger="interactions.inbound_run"):
        made = process_batch(sms_channel)

    assert "message by message" not in caplog.text, "the bulk run did not fail"
    first, other, second = (made[event.pk] for event in events)
    assert first is not None and second is not None and other is not None
    assert first.conversation_id == second.conversation_id == case.pk
    assert [first.meta["continuity"], second.meta["continuity"]] == [continuity.OPEN_CASE] * 2
    assert other.conversation_id != case.pk and other.meta["continuity"] == continuity.NO_CASE
    stored = Interaction.objects.get(pk=second.pk)
    assert (stored.text, stored.created_at, stored.channel_id) == ("Still waiting", second.created_at, sms_channel.pk)
    assert first.created_at < second.created_at and first.pk < second.pk
    case.refresh_from_db()
    assert case.channel_id == sms_channel.pk, "the case's reply channel follows the customer"
    assert case.last_message_at is not None and first.created_at < case.last_message_at <= second.created_at
    assert case.assignee_id == alice.pk, "the case stays with its agent"
    wrote = ReportingEvent.objects.filter(kind=EventKind.CUSTOMER_MESSAGE, conversation_id=case.pk, channel_kind="sms")
    assert sorted(wrote.values_list("at", flat=True)) == [first.created_at, second.created_at]
    assert set(wrote.values_list("customer_id", "queue_id", "agent_id")) == {(carla.pk, case.queue_id, alice.pk)}
    assert ReportingCase.objects.get(conversation_id=case.pk).attrited, "the chat case continued on another channel"
    resolution = ReportingEvent.objects.get(kind=EventKind.RESOLVED, conversation_id=earlier.pk)
    assert RepeatedResolution.objects.filter(resolution_id=resolution.pk).count() == 1


def test_a_batch_whose_bulk_insert_fails_is_redone_message_by_message(
    alice: Any, sms_channel: Channel, caplog: pytest.LogCaptureFixture
) -> None:
    # A provider sent one message under two webhook ids: one timeline entry, as message by message.
    sms(sms_channel, "+33611111111", "Hello")
    sms(sms_channel, "+33622222222", "Hello")
    process_batch(sms_channel)
    twice = [
        sms(sms_channel, "+33611111111", "Twice", message_sid="SMsame"),
        sms(sms_channel, "+33622222222", "Other"),
        sms(sms_channel, "+33611111111", "Twice", message_sid="SMsame"),
    ]

    with caplog.at_level(logging.INFO, logger="interactions.inbound_run"):
        made = process_batch(sms_channel)

    assert "IntegrityError" in caplog.text, "the bulk INSERT failed on the duplicate, then one by one"
    assert made[twice[0].pk] is not None and made[twice[2].pk] is not None
    assert made[twice[0].pk].pk == made[twice[2].pk].pk  # type: ignore[union-attr]
    assert Interaction.objects.filter(external_id="SMsame").count() == 1
    assert not InboundEvent.objects.filter(pk__in=[e.pk for e in twice], processed_at__isnull=True).exists()
    assert set(InboundEvent.objects.filter(pk__in=[e.pk for e in twice]).values_list("last_error", flat=True)) == {""}


@pytest.mark.usefixtures("media_root")
def test_a_reply_waiting_for_its_parent_leaves_the_rest_of_its_batch_in_bulk(
    mailbox: Channel, alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first, _created = record_raw_mail(channel=mailbox, raw=fixture_bytes("new_request.eml"), source="test")
    # Another worker's batch has the first message: the claim below leaves it alone.
    InboundEvent.objects.filter(pk=first.pk).update(attempts=1, last_attempt_at=timezone.now())
    reply, _created = record_raw_mail(channel=mailbox, raw=fixture_bytes("follow_up_references.eml"), source="test")
    other = EmailMessage()
    other["From"], other["To"], other["Subject"] = "Paul <paul@example.org>", "support@omnidesk.test", "Hello"
    other["Message-ID"] = "<other-1@example.org>"
    other.set_content("A question of my own.")
    unrelated, _created = record_raw_mail(channel=mailbox, raw=other.as_bytes(), source="test")

    with caplog.at_level(logging.INFO, logger="interactions.inbound_run"):
        made = process_batch(mailbox)

    assert "message by message" not in caplog.text, "the reply waits alone; the batch stays in bulk"
    assert made[unrelated.pk] is not None and reply.pk not in made
    reply.refresh_from_db()
    assert reply.processed_at is None and reply.dead_lettered_at is None and reply.last_error == ""
    assert not Interaction.objects.filter(channel=mailbox, external_id="first-1@example.com").exists()
