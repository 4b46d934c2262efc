"""Small builders for the states tests start from."""

from __future__ import annotations

import uuid

from customers.models import Customer
from interactions import services
from interactions.models import Channel, Interaction


def widget_message(channel: Channel, *, visitor: str | None = None, text: str = "Bonjour") -> Interaction:
    """A visitor's chat message, stored and processed the way the worker does it."""
    visitor = visitor or uuid.uuid4().hex
    event = services.record_widget_message(channel=channel, visitor_id=visitor, uuid=str(uuid.uuid4()), text=text)
    interaction = services.process_inbound_event(event_id=event.pk)
    assert interaction is not None
    return interaction


def customer_named(name: str) -> Customer:
    return Customer.objects.create(display_name=name)
