"""The realtime log: events exist exactly when their change does, and replay serves each group its own."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings

from interactions import visitors
from interactions.models import Channel
from omnidesk import realtime
from omnidesk.models import Event
from tests.events import published_events
from tests.factories import widget_message


def test_it_records_an_event_for_each_announced_change(alice: Any, chat_channel: Channel) -> None:
    # A visitor of this channel (their id carries its tag) gets the message pushed too: one event for the desk, one
    # for the widget.
    with published_events() as published:
        widget_message(chat_channel, visitor=visitors.new_visitor_id(channel=chat_channel), text="Bonjour")
    assert published.types() == ["conversation.assigned", "message.created", "message.created"]


def test_it_records_nothing_when_the_change_rolls_back(db: None) -> None:
    with published_events() as published, pytest.raises(RuntimeError), transaction.atomic():
        realtime.publish_on_commit(type="message.created", data={"x": 1}, groups=["agent.1"])
        raise RuntimeError("the change failed")
    assert published.all() == []


def test_it_replays_only_the_events_of_the_given_groups(db: None) -> None:
    mine = realtime.publish_on_commit(type="a.happened", data={"n": 1}, groups=["agent.1", "supervisors"])
    realtime.publish_on_commit(type="b.happened", data={"n": 2}, groups=["agent.2"])
    later = realtime.publish_on_commit(type="c.happened", data={"n": 3}, groups=["queue.7"])
    frames = realtime.replay(groups=["agent.1", "queue.7"], after=0)
    assert frames is not None
    assert [json.loads(frame)["id"] for frame in frames] == [mine.id, later.id]
    assert json.loads(frames[0]) == {
        "type": "a.happened",
        "id": mine.id,
        "at": mine.created_at.isoformat(),
        "data": {"n": 1},
    }
    assert realtime.replay(groups=["agent.1"], after=mine.id) == []


@override_settings(OMNIDESK_REPLAY_LIMIT=2)
def test_it_asks_for_a_resync_when_too_much_was_missed(db: None) -> None:
    first = realtime.publish_on_commit(type="a.happened", data={}, groups=["agent.1"])
    for _ in range(3):
        realtime.publish_on_commit(type="a.happened", data={}, groups=["agent.1"])
    assert realtime.replay(groups=["agent.1"], after=first.id - 1) is None
    assert realtime.replay(groups=["agent.1"], after=first.id + 1) is not None


def test_it_asks_for_a_resync_when_the_cursor_predates_pruned_events(db: None) -> None:
    realtime.publish_on_commit(type="a.happened", data={}, groups=["agent.1"])
    kept = realtime.publish_on_commit(type="a.happened", data={}, groups=["agent.1"])
    Event.objects.filter(id__lt=kept.id).delete()
    assert realtime.replay(groups=["agent.1"], after=kept.id - 5) is None


def test_it_announces_a_new_message_with_the_conversations_current_assignee(alice: Any, chat_channel: Channel) -> None:
    with published_events() as published:
        widget_message(chat_channel, text="Bonjour")
    [desk_message] = [e for e in published.of_type("message.created") if e.data.get("conversation") is not None]
    assert desk_message.data["conversation"]["assignee_id"] == alice.pk


def test_it_writes_a_batch_of_events_together_and_only_when_the_block_succeeds(db: None) -> None:
    with published_events() as published:
        with realtime.batched():
            first = realtime.publish_on_commit(type="a.happened", data={}, groups=["agent.1"])
            second = realtime.publish_on_commit(type="b.happened", data={}, groups=["agent.1"])
            assert published.all() == []
        assert first.id is not None and second.id > first.id
        assert published.types() == ["a.happened", "b.happened"]
        with pytest.raises(RuntimeError), realtime.batched():
            realtime.publish_on_commit(type="c.happened", data={}, groups=["agent.1"])
            raise RuntimeError("the change failed")
    assert published.types() == ["a.happened", "b.happened"]


@pytest.mark.django_db(transaction=True)
def test_it_numbers_events_in_commit_order() -> None:
    """An announcement waits for an earlier, still open one to commit, so ids never commit out of order."""
    holding = threading.Event()
    first_ids: list[int] = []

    def slow_announcer() -> None:
        try:
            with transaction.atomic():
                first_ids.append(realtime.publish_on_commit(type="a.happened", data={}, groups=["agent.1"]).id)
                holding.set()
                time.sleep(0.5)  # keeps its transaction open: the second announcement must wait for the commit
        finally:
            connection.close()

    thread = threading.Thread(target=slow_announcer)
    thread.start()
    assert holding.wait(5)
    started = time.monotonic()
    second = realtime.publish_on_commit(type="b.happened", data={}, groups=["agent.1"])
    waited = time.monotonic() - started
    thread.join()
    assert second.id > first_ids[0]
    assert waited >= 0.3
