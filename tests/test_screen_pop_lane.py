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
from django.test import Client
from django.test.utils import CaptureQueriesContext

from interactions import inbound, inbound_claims, lanes
from interactions.models import Channel, InboundEvent
from interactions.phone.call_lock import lock_call
from interactions.phone.models import Call
from tests.phone_factories import cti_body, post_cti, send_event

pytestmark = pytest.mark.django_db
LANE = "omnidesk-test-call-lane"
INGEST_TASK = "interactions.tasks.process_inbound_event_task"


@pytest.fixture
def call_lane(settings: Any) -> Iterator[redis.Redis]:
    settings.OMNIDESK_CALL_QUEUE = LANE
    broker = redis.Redis.from_url(django_settings.REDIS_URL)
    broker.delete(LANE)
    yield broker
    broker.delete(LANE)


def queued_tasks(broker: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(item) for item in broker.lrange(LANE, 0, -1)]


def test_it_sends_a_phone_channels_ingest_task_to_the_call_lane(
    call_lane: redis.Redis, hotline: Channel, chat_channel: Channel
) -> None:
    assert inbound.enqueue_inbound_event(event_id=0, channel_id=hotline.pk)
    assert inbound.enqueue_inbound_event(event_id=0, channel_id=chat_channel.pk)

    queued = queued_tasks(call_lane)
    assert [item["headers"]["task"] for item in queued] == [INGEST_TASK], "the chat task is not on the lane"
    assert queued[0]["headers"]["kwargsrepr"] == f"{{'channel_id': {hotline.pk}}}"


def test_it_keeps_the_mail_and_call_lanes_apart(settings: Any, call_lane: redis.Redis) -> None:
    settings.OMNIDESK_MAIL_QUEUE = "omnidesk-test-mail-lane"
    assert lanes.queue_for(kind=Channel.Kind.VOICE) == LANE
    assert lanes.queue_for(kind=Channel.Kind.EMAIL) == "omnidesk-test-mail-lane"
    assert lanes.queue_for(kind=Channel.Kind.CHAT) == ""


def test_it_reads_no_kind_on_the_accept_path_with_a_lane_set(
    call_lane: redis.Redis, hotline: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    body = cti_body("ringing", "lane-accept", None)
    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        assert post_cti(Client(), hotline, body).status_code == 202
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('SELECT "interactions_channel"."kind"')]
    assert reads == [], "the webhook passes the kind of the channel it holds"
    queued = queued_tasks(call_lane)
    assert [item["headers"]["kwargsrepr"] for item in queued] == [f"{{'channel_id': {hotline.pk}}}"]


def test_it_claims_a_calls_events_one_at_a_time(hotline: Channel, chat_channel: Channel) -> None:
    for number in range(3):
        assert post_cti(Client(), hotline, cti_body("ringing", f"lane-{number}", None)).status_code == 202
    pending = list(
        InboundEvent.objects.filter(channel=hotline, processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(pending) >= 3
    assert inbound_claims.claim_inbound_events(event_id=0, channel_id=hotline.pk) == pending[:1]
    assert lanes.batch_size_for(kind=Channel.Kind.CHAT) == django_settings.OMNIDESK_INGEST_BATCH_SIZE


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
