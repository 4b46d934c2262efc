"""The inbound message's hot path pays only what the message needs (issue 16): a continuing chat message in a batch of
one reads no intents, no reporting context, no channel kind the task was told, and takes no savepoint; the answers
(the case it continues, its reporting event, a new case for another intent) are the same as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer, Identity
from interactions import continuity, inbound, inbound_claims, visitors
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from omnidesk.models import EventAudience
from reporting.events import read_context
from reporting.models import EventKind, ReportingEvent
from routing.models import ConversationIntent, Intent, Queue
from tests.factories import chat, process_alone

pytestmark = pytest.mark.django_db


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("session_worker_paused")
def test_it_continues_a_chat_in_a_batch_of_one_without_intents_savepoints_or_reporting_reads(
    alice: Any, carla: Customer, chat_channel: Channel
) -> None:
    first = process_alone(chat(chat_channel, "carla-visitor", "My order is late"))
    event = chat(chat_channel, "carla-visitor", "Any news?")

    with CaptureQueriesContext(connection) as captured:
        inbound.process_inbound_event(event_id=event.pk, channel_id=chat_channel.pk, kind=chat_channel.kind)

    made = Interaction.objects.get(external_id=event.external_id)
    assert made.conversation_id == first.conversation_id and made.meta["continuity"] == continuity.OPEN_CASE
    sql = statements(captured)
    assert not [s for s in sql if 'FROM "routing_intent"' in s], "no intent detection: the case has no intent"
    assert not [s for s in sql if s.startswith(("SAVEPOINT", "RELEASE"))], "a batch of one needs no savepoint"
    assert not [s for s in sql if s.startswith('SELECT "interactions_channel"."kind"')], "the task named the kind"
    assert not [s for s in sql if s.startswith("SELECT (SELECT ci.intent_id")], "the case came with its context"
    # 18 before the announcement's lock and its two INSERTs became one statement (omnidesk/realtime.py).
    assert len(sql) == 16


def test_it_records_a_customer_message_with_the_context_reporting_would_have_read(
    alice: Any, carla: Customer, chat_channel: Channel, support_queue: Queue, intents: dict[str, Intent]
) -> None:
    # Open one minute a week, three days from today: the event is out of business hours, which only the queue's
    # calendar can tell.
    support_queue.business_hours = {str((timezone.now().weekday() + 3) % 7): [["09:00", "09:01"]]}
    support_queue.save()
    first = process_alone(chat(chat_channel, "carla-visitor", "Ma facture est fausse, je veux un remboursement"))
    assert ConversationIntent.objects.get(conversation_id=first.conversation_id).intent == intents["billing"]

    later = process_alone(chat(chat_channel, "carla-visitor", "Ma facture, toujours rien ?"))

    assert later.conversation_id == first.conversation_id
    event = ReportingEvent.objects.get(kind=EventKind.CUSTOMER_MESSAGE, at=later.created_at)
    expected = read_context(queue_id=support_queue.pk, conversation_id=first.conversation_id)
    assert event.intent_id == expected.intent_id == intents["billing"].pk
    assert event.in_business_hours is False


def test_it_opens_a_new_case_for_another_intent_within_a_batch_too(
    alice: Any, carla: Customer, chat_channel: Channel, intents: dict[str, Intent]
) -> None:
    bill = process_alone(chat(chat_channel, "carla-visitor", "Ma facture est fausse, je veux un remboursement"))
    parcel = chat(chat_channel, "carla-visitor", "Et mon colis n'est pas arrivé, où est la livraison ?")
    other = chat(chat_channel, "vb-someone", "Hello")

    made = inbound.process_claimed_events(
        event_ids=inbound_claims.claim_inbound_events(event_id=0, channel_id=chat_channel.pk, limit=10)
    )

    about_parcel = made[parcel.pk]
    assert about_parcel is not None and made[other.pk] is not None
    assert about_parcel.conversation_id != bill.conversation_id
    assert about_parcel.meta["continuity"] == continuity.NEW_INTENT
    assert Conversation.objects.filter(customer=carla).count() == 2


def test_it_pushes_a_batchs_chat_message_to_every_widget_of_its_customer_on_that_channel(
    alice: Any, chat_channel: Channel, carla: Customer
) -> None:
    phone, laptop = visitors.new_visitor_id(channel=chat_channel), visitors.new_visitor_id(channel=chat_channel)
    elsewhere = Channel.objects.create(kind=Channel.Kind.CHAT, name="Other site", queue=chat_channel.queue)
    for address in (phone, laptop, visitors.new_visitor_id(channel=elsewhere)):
        Identity.objects.create(customer=carla, kind=Identity.Kind.WIDGET, address=address)
    mine = chat(chat_channel, phone, "Hello from my phone")
    chat(chat_channel, visitors.new_visitor_id(channel=chat_channel), "Hi")

    with CaptureQueriesContext(connection) as captured:
        made = inbound.process_claimed_events(
            event_ids=inbound_claims.claim_inbound_events(event_id=0, channel_id=chat_channel.pk, limit=10)
        )

    entry = made[mine.pk]
    assert entry is not None and entry.customer_id == carla.pk
    assert not [s for s in statements(captured) if "LIKE" in s], "the batch read its customers' widgets at once"
    pushed = set(
        EventAudience.objects.filter(
            event__data__message__uuid=mine.external_id, group__startswith=realtime.VISITOR_PREFIX
        ).values_list("group", flat=True)
    )
    assert pushed == {realtime.visitor_group(phone), realtime.visitor_group(laptop)}


def test_it_tells_the_task_its_channels_kind_in_a_header_and_its_arguments_stay_ids(
    settings: Any, hotline: Channel
) -> None:
    lane = "omnidesk-test-lean-kind-lane"
    settings.OMNIDESK_CALL_QUEUE = lane
    broker = redis.Redis.from_url(django_settings.REDIS_URL)
    broker.delete(lane)
    try:
        assert inbound.enqueue_inbound_event(event_id=0, channel_id=hotline.pk, kind=hotline.kind)
        queued = [json.loads(item) for item in broker.lrange(lane, 0, -1)]
    finally:
        broker.delete(lane)
    assert [item["headers"][inbound.KIND_HEADER] for item in queued] == [Channel.Kind.VOICE]
    assert queued[0]["headers"]["kwargsrepr"] == f"{{'channel_id': {hotline.pk}}}"
