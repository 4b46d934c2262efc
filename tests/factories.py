"""Small builders for the states tests start from."""

from __future__ import annotations

import uuid

from customers.models import Customer, Identity
from interactions import inbound, inbound_claims
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from tests.stack import wait_until


def widget_message(channel: Channel, *, visitor: str | None = None, text: str = "Bonjour") -> Interaction:
    """A visitor's chat message, stored and processed the way the worker does it."""
    visitor = visitor or uuid.uuid4().hex
    message_uuid = str(uuid.uuid4())
    event = inbound.record_widget_message(channel=channel, visitor_id=visitor, uuid=message_uuid, text=text)
    interaction = inbound.process_inbound_event(event_id=event.pk)
    if interaction is None:
        # In transactional tests the live worker may have taken it first: wait for its commit.
        stored = Interaction.objects.filter(channel=channel, external_id=message_uuid)
        wait_until(stored.exists, timeout=15, message="the live worker to process the message")
        interaction = stored.get()
    return interaction


def customer_named(name: str) -> Customer:
    return Customer.objects.create(display_name=name)


def customer_with_earlier_chat(
    channel: Channel, *, text: str, name: str = "Jeanne Martin", email: str = "jeanne@example.com"
) -> Customer:
    """A known customer with a verified email and one earlier, resolved chat on `channel` saying `text`."""
    customer = Customer.objects.create(display_name=name)
    Identity.objects.create(customer=customer, kind="email", address=email, verified=True)
    conversation = Conversation.objects.create(customer=customer, channel=channel, status="resolved")
    Interaction.objects.create(
        conversation=conversation,
        customer=customer,
        channel=channel,
        direction="in",
        text=text,
        external_id="earlier",
    )
    return customer


def chat(channel: Channel, visitor: str, text: str) -> InboundEvent:
    """A widget chat message from `visitor`, stored as the widget stores it (not processed yet)."""
    return inbound.record_widget_message(channel=channel, visitor_id=visitor, uuid=str(uuid.uuid4()), text=text)


def process_alone(event: InboundEvent) -> Interaction:
    """Claim and process `event` as a batch of one, as the worker's task does; the interaction it made."""
    made = inbound.process_claimed_events(event_ids=inbound_claims.claim_inbound_events(event_id=event.pk))
    interaction = made[event.pk]
    assert interaction is not None
    return interaction
