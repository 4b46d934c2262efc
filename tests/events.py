"""The realtime events a block of a test published, read from the realtime log itself.

Every published event is first an `omnidesk.models.Event` row (see omnidesk/realtime.py), so the log is what a test
reads: nothing of the stack is mocked. `published_events()` notes the last event id as the block begins and, when it
ends, the last one again; `Published` then answers with the rows in between, in publication order.

Once a module of the session started the live stack, its worker publishes the supervisors' figures
(`queue.stats_changed`, and `wallboard.updated` a second after a change) into the same database at any moment: those
two types are left out unless the test asks for them (`include_live_figures=True`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet

from omnidesk import realtime
from omnidesk.models import Event
from reporting.wallboard import WALLBOARD_EVENT
from routing.stats import STATS_EVENT

LIVE_FIGURES = (STATS_EVENT, WALLBOARD_EVENT)


class Published:
    """The events published between `after` (excluded) and `until` (included; open while the block runs)."""

    def __init__(self, *, after: int, include_live_figures: bool) -> None:
        self.after = after
        self.until: int | None = None
        self.include_live_figures = include_live_figures

    def rows(self) -> QuerySet[Event]:
        rows = Event.objects.filter(id__gt=self.after)
        if self.until is not None:
            rows = rows.filter(id__lte=self.until)
        if not self.include_live_figures:
            rows = rows.exclude(type__in=LIVE_FIGURES)
        return rows.order_by("id")

    def all(self) -> list[Event]:
        return list(self.rows())

    def types(self) -> list[str]:
        return list(self.rows().values_list("type", flat=True))

    def of_type(self, type: str, *, conversation: Any = None) -> list[Event]:
        """The events of `type`; with `conversation` (a Conversation or its id), only those about it."""
        events = list(self.rows().filter(type=type))
        if conversation is None:
            return events
        wanted = getattr(conversation, "pk", conversation)
        return [event for event in events if _conversation_id(event) == wanted]

    def one(self, type: str, *, conversation: Any = None) -> Event:
        """The single event of `type` (about `conversation`); fails the test when there are none or several."""
        events = self.of_type(type, conversation=conversation)
        assert len(events) == 1, f"expected one {type!r} event, published: {[e.type for e in events] or 'none'}"
        return events[0]

    def last(self, type: str) -> Event | None:
        return self.rows().filter(type=type).last()


def _conversation_id(event: Event) -> Any:
    conversation = event.data.get("conversation")
    return conversation.get("id") if isinstance(conversation, dict) else None


def groups_of(event: Event) -> set[str]:
    """The realtime groups `event` was sent to."""
    return set(event.audience.values_list("group", flat=True))


@contextmanager
def published_events(*, include_live_figures: bool = False) -> Iterator[Published]:
    """Collect the events published during the block: `with published_events() as published: …`."""
    published = Published(after=realtime.latest_event_id(), include_live_figures=include_live_figures)
    try:
        yield published
    finally:
        published.until = realtime.latest_event_id()
