"""The call lane and the cheap ringing: a phone channel's ingest tasks can run on a Celery queue of their own
(OMNIDESK_CALL_QUEUE), chosen at no database cost on the accept path; a new call is stored and locked in one
statement, an existing one read and locked in one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from interactions import inbound
from interactions.models import Channel
from interactions.phone import lanes
from interactions.phone.models import Call
from interactions.phone.services import lock_call
from tests.phone_factories import send_event

pytestmark = pytest.mark.django_db
LANE = "omnidesk-test-call-lane"


@pytest.fixture
def call_lane(settings: Any) -> Iterator[redis.Redis]:
    settings.OMNIDESK_CALL_QUEUE = LANE
    broker = redis.Redis.from_url(django_settings.REDIS_URL)
    broker.delete(LANE)
    lanes._kinds.clear()
    yield broker
    broker.delete(LANE)
    lanes._kinds.clear()


def queued_tasks(broker: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(item) for item in broker.lrange(LANE, 0, -1)]


def test_it_sends_a_phone_channels_ingest_task_to_the_call_lane(
    call_lane: redis.Redis, hotline: Channel, chat_channel: Channel
) -> None:
    assert inbound.enqueue_inbound_event(event_id=0, channel_id=hotline.pk)
    assert inbound.enqueue_inbound_event(event_id=0, channel_id=chat_channel.pk)

    queued = queued_tasks(call_lane)
    assert [item["headers"]["task"] for item in queued] == [lanes.INGEST_TASK], "the chat task is not on the lane"
    assert queued[0]["headers"]["kwargsrepr"] == f"{{'channel_id': {hotline.pk}}}"


def test_it_reads_a_channels_kind_once_per_process(call_lane: redis.Redis, hotline: Channel) -> None:
    assert lanes.queue_for_channel(hotline.pk) == LANE
    with CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            assert lanes.queue_for_channel(hotline.pk) == LANE
    assert captured.captured_queries == [], "the accept path stays one INSERT and one publish"


def test_it_leaves_routing_alone_when_the_lane_is_off(hotline: Channel) -> None:
    with CaptureQueriesContext(connection) as captured:
        route = lanes.route_task(lanes.INGEST_TASK, (0,), {"channel_id": hotline.pk}, {})
    assert route is None and captured.captured_queries == []


def test_it_never_overrides_a_queue_the_publisher_chose(call_lane: redis.Redis, hotline: Channel) -> None:
    assert lanes.route_task(lanes.INGEST_TASK, (0,), {"channel_id": hotline.pk}, {"queue": "mail"}) is None
    assert lanes.route_task("interactions.tasks.deliver_interaction_task", (1,), {}, {}) is None
    # A retry or the sweeper's re-enqueue names no channel: the default queue, which every deployment consumes.
    assert lanes.route_task(lanes.INGEST_TASK, (5,), {}, {}) is None


def test_it_stores_and_locks_a_new_call_in_one_statement(hotline: Channel) -> None:
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        call = lock_call(channel=hotline, call_id="lane-new", direction="in")
    assert len(captured.captured_queries) == 1, [q["sql"][:60] for q in captured.captured_queries]
    stored = Call.objects.get(pk=call.pk)
    assert (stored.call_id, stored.direction, stored.state) == ("lane-new", "in", Call.State.RINGING)


def test_it_locks_an_existing_call_in_one_statement(alice: Any, hotline: Channel) -> None:
    rung = send_event(hotline, "ringing", "lane-old", caller="0612345678", agent="alice")
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        call = lock_call(channel=hotline, call_id="lane-old", expect_new=False, direction="in")
        assert call.customer is not None and call.target_agent == alice  # loaded with it
    assert len(captured.captured_queries) == 1, [q["sql"][:60] for q in captured.captured_queries]
    assert call.pk == rung.pk


def test_it_finds_a_call_whose_first_event_was_not_the_ringing(hotline: Channel) -> None:
    with transaction.atomic():
        first = lock_call(channel=hotline, call_id="lane-late", expect_new=False, direction="in")
        first.save()
    with transaction.atomic():
        again = lock_call(channel=hotline, call_id="lane-late", direction="in")
    assert again.pk == first.pk and Call.objects.filter(call_id="lane-late").count() == 1
