"""Small builders for the states tests start from."""

from __future__ import annotations

import uuid

from customers.models import Customer
from interactions import services
from interactions.models import Channel, Interaction


def widget_message(channel: Channel, *, visitor: str | None = None, text: str = "Bonjour") -> Interaction:
    """A visitor's chat message, stored and processed the way the worker does it."""
    visitor = visitor or uuid.uuid4().hex
    message_uuid = str(uuid.uuid4())
    event = services.record_widget_message(channel=channel, visitor_id=visitor, uuid=message_uuid, text=text)
    # In transactional tests the live worker may have processed it first; then this call finds nothing to do.
    interaction = services.process_inbound_event(event_id=event.pk)
    return interaction or Interaction.objects.get(channel=channel, external_id=message_uuid)


def customer_named(name: str) -> Customer:
    return Customer.objects.create(display_name=name)
