"""Glue between the inbound spine and the provider adapters."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError

from interactions.adapters import InvalidPayload
from interactions.models import InboundEvent, Interaction

Processor = Callable[[InboundEvent], Interaction | None]


def refuse_unparseable(processor: Processor) -> Processor:
    """An authentic request we could not read was kept as-is: dead-letter it at once (visible to admins)."""

    def process(event: InboundEvent) -> Interaction | None:
        if "unparseable" in event.payload:
            raise InvalidPayload(f"unreadable webhook body: {event.payload.get('error', '')}")
        try:
            return processor(event)
        except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as error:
            if isinstance(error, InvalidPayload):
                raise
            # A payload missing what its format promises (or with an impossible phone number) will never parse.
            raise InvalidPayload(f"{type(error).__name__}: {error}") from error

    return process
