"""An ingest batch resolves and locks all its senders, and their cases, before its loop (issue 16, item 2): the same
customers, cases and continuity decisions as message by message, for a constant number of identity statements."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, Identity
from interactions import inbound, inbound_claims
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from routing.models import Queue
from tests.factories import chat

pytestmark = pytest.mark.django_db


def sms(channel: Channel, number: str, text: str, *, sid: str = "") -> InboundEvent:
    sid = sid or f"SM{uuid.uuid4().hex}"
    payload = {"MessageSid": sid, "From": number, "To": "+33100000000", "Body": text}
    return inbound.record_inbound_event(channel=channel, external_id=sid, payload=payload, provider="twilio")[0]


def process_batch(channel: Channel) -> dict[int, Interaction | None]:
    """What a worker's task does with the channel's pending events: claim them, process them as one batch."""
    claimed = inbound_claims.claim_inbound_events(event_id=0, channel_id=channel.pk, limit=100)
    assert len(claimed) > 1, "a batch, not a single event"
    return inbound.process_claimed_events(event_ids=claimed)


@pytest.fixture
def sms_channel(support_queue: Queue) -> Channel:
    return Channel.objects.create(kind=Channel.Kind.SMS, name="SMS", queue=support_queue)


def test_it_makes_one_customer_and_one_case_for_two_first_messages_of_a_new_sender_in_one_batch(
    alice: Any, chat_channel: Channel
) -> None:
    first = chat(chat_channel, "vb-new", "Hello")
    second = chat(chat_channel, "vb-new", "Are you there?")

    made = process_batch(chat_channel)

    identity = Identity.objects.get(kind=Identity.Kind.WIDGET, address="vb-new")
    assert Customer.objects.filter(identities__address="vb-new").count() == 1
    one, two = made[first.pk], made[second.pk]
    assert one is not None and two is not None
    assert one.customer_id == two.customer_id == identity.customer_id
    assert one.conversation_id == two.conversation_id, "the second message continues the case the first opened"
    assert [one.meta["continuity"], two.meta["continuity"]] == ["no_case", "open_case"]


def test_it_keeps_a_returning_customers_messages_in_their_open_case(
    alice: Any, chat_channel: Channel, carla: Customer
) -> None:
    earlier = chat(chat_channel, "carla-visitor", "My order is late")
    inbound.process_claimed_events(event_ids=inbound_claims.claim_inbound_events(event_id=earlier.pk))
    case = Conversation.objects.get(customer=carla)
    events = [chat(chat_channel, "carla-visitor", "Any news?"), chat(chat_channel, "vb-other", "Hi")]
    events.append(chat(chat_channel, "carla-visitor", "Hello?"))

    made = process_batch(chat_channel)

    carla_entries = [made[events[0].pk], made[events[2].pk]]
    assert all(entry is not None and entry.conversation_id == case.pk for entry in carla_entries)
    assert {entry.meta["continuity"] for entry in carla_entries if entry} == {"open_case"}
    other = made[events[1].pk]
    assert other is not None and other.conversation_id != case.pk and other.customer_id != carla.pk
    assert Conversation.objects.filter(customer=carla).count() == 1


def test_it_files_a_merged_customers_messages_under_the_survivor(alice: Any, chat_channel: Channel) -> None:
    survivor = Customer.objects.create(display_name="Survivor")
    merged = Customer.objects.create(display_name="Merged", merged_into=survivor)
    Identity.objects.create(customer=merged, kind=Identity.Kind.WIDGET, address="vb-merged")
    events = [chat(chat_channel, "vb-merged", "One"), chat(chat_channel, "vb-merged", "Two")]

    made = process_batch(chat_channel)

    assert {made[event.pk].customer_id for event in events} == {survivor.pk}  # type: ignore[union-attr]


def test_a_whatsapp_number_known_as_a_phone_still_joins_that_customer(alice: Any, sms_channel: Channel) -> None:
    """A number new in its kind but known in the other is left to the messaging channels' own rule (one person)."""
    known = Customer.objects.create(display_name="Known by phone")
    Identity.objects.create(customer=known, kind=Identity.Kind.PHONE, address="+33612345678")
    events = [sms(sms_channel, "whatsapp:+33612345678", "Hi"), sms(sms_channel, "+33698765432", "Hello")]

    made = process_batch(sms_channel)

    first = made[events[0].pk]
    assert first is not None and first.customer_id == known.pk
    assert Identity.objects.filter(address="+33612345678").count() == 2
    second = made[events[1].pk]
    assert second is not None and second.customer_id != known.pk


def identity_statements(channel: Channel, *, senders: int) -> int:
    for n in range(senders):
        sms(channel, f"+336{senders:02d}{n:06d}", "Where is my parcel?")
    claimed = inbound_claims.claim_inbound_events(event_id=0, channel_id=channel.pk, limit=100)
    assert len(claimed) == senders
    with CaptureQueriesContext(connection) as captured:
        made = inbound.process_claimed_events(event_ids=claimed)
    assert len(made) == senders and all(made.values())
    return sum(
        1
        for query in captured.captured_queries
        if '"customers_identity"' in query["sql"] or '"customers_customer"' in query["sql"]
    )


def test_it_resolves_a_batch_of_new_senders_with_a_constant_number_of_identity_statements(
    alice: Any, sms_channel: Channel
) -> None:
    small = identity_statements(sms_channel, senders=3)
    large = identity_statements(sms_channel, senders=12)
    # One SELECT of the identities, one INSERT of the customers, one of the identities, one SELECT … FOR UPDATE.
    assert small == large == 4


def test_it_drops_the_customer_it_made_for_a_poison_message_and_keeps_the_others(
    alice: Any, chat_channel: Channel
) -> None:
    good = chat(chat_channel, "vb-good", "Hello")
    poison = inbound.record_inbound_event(
        channel=chat_channel,
        external_id="poison-prelude",
        payload={"visitor": "vb-poison", "uuid": "p" * 300, "text": "x"},
    )[0]

    made = process_batch(chat_channel)

    assert made[good.pk] is not None and poison.pk not in made
    assert Identity.objects.filter(address="vb-good").exists()
    assert not Identity.objects.filter(address="vb-poison").exists(), "as if its savepoint had taken it back"
    assert not Customer.objects.filter(display_name="Visitor vb-poi").exists()
