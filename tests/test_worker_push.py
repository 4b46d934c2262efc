"""What a worker task committed reaches the sockets in one synchronous pipeline (omnidesk/pubsub_layer.py
`publish_now`, used by omnidesk/realtime.py outside the ASGI server), and the broker's Redis transport reuses one
client per channel (omnidesk/broker.py): docs/performance-latency.md. On the real Redis."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

from omnidesk import realtime
from omnidesk.pubsub_layer import PipelinedPubSubChannelLayer

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis")


async def test_it_delivers_a_batch_published_from_synchronous_code_to_every_group_in_order() -> None:
    layer = PipelinedPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=f"test-{uuid.uuid4().hex}")
    try:
        desk, widget = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("agent.7", desk)
        await layer.group_add("queue.3", desk)
        await layer.group_add("visitor.v1", widget)
        sends = [
            ("agent.7", {"type": "realtime.event", "id": 1, "text": "one"}),
            ("queue.3", {"type": "realtime.event", "id": 1, "text": "one"}),
            ("visitor.v1", {"type": "realtime.event", "id": 2, "text": "two"}),
            ("agent.7", {"type": "realtime.event", "id": 3, "text": "three"}),
        ]
        # From a thread with no event loop, as a Celery task's on-commit callback runs.
        await asyncio.to_thread(layer.publish_now, sends)
        at_desk = [(await asyncio.wait_for(layer.receive(desk), 5))["id"] for _n in range(3)]
        assert sorted(at_desk) == [1, 1, 3]
        assert at_desk.index(3) > at_desk.index(1)  # one group's frames keep their order
        assert (await asyncio.wait_for(layer.receive(widget), 5))["text"] == "two"
    finally:
        await layer.flush()


async def test_it_raises_when_redis_cannot_be_reached() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    layer = PipelinedPubSubChannelLayer(hosts=[f"redis://127.0.0.1:{closed_port}/0"], prefix="unreachable")
    with pytest.raises(RedisConnectionError):
        await asyncio.to_thread(layer.publish_now, [("agent.1", {"type": "t"})])


def layers_at(address: str) -> dict[str, Any]:
    """CHANNEL_LAYERS with the production backend on `address`, under a prefix of its own (pub/sub ignores the db)."""
    config = {"hosts": [{"address": address}], "prefix": f"test-{uuid.uuid4().hex}"}
    return {"default": {"BACKEND": "omnidesk.pubsub_layer.PipelinedPubSubChannelLayer", "CONFIG": config}}


async def test_send_to_groups_outside_the_server_publishes_without_the_loop_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The background loop is the slow path this test rules out: taking it fails the test instead of delivering.
    monkeypatch.setattr(realtime, "_run", lambda function: pytest.fail("went through an event loop"))
    with override_settings(CHANNEL_LAYERS=layers_at(settings.REDIS_URL)):
        layer = get_channel_layer()
        assert isinstance(layer, PipelinedPubSubChannelLayer)
        try:
            desk = await layer.new_channel()
            await layer.group_add("agent.1", desk)
            await layer.group_add("queue.2", desk)
            message = {"type": "realtime.event", "id": 5, "text": "{}", "groups": ["agent.1", "queue.2"]}
            # From a thread with no event loop, as a Celery task's on-commit callback runs.
            await asyncio.to_thread(realtime.send_to_groups, [(["agent.1", "queue.2"], message)])
            received = [await asyncio.wait_for(layer.receive(desk), 5) for _group in ("agent.1", "queue.2")]
            assert received == [message, message]
        finally:
            await layer.flush()


def test_send_to_groups_logs_and_swallows_a_failed_publish(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with override_settings(CHANNEL_LAYERS=layers_at(f"redis://127.0.0.1:{closed_port}/0")):
        message = {"type": "realtime.event", "id": 6, "text": "{}", "groups": ["agent.1"]}
        realtime.send_to_groups([(["agent.1"], message)])  # returns: the Event row lets clients catch up
    assert "realtime send failed" in caplog.text
    assert any(isinstance(record.exc_info[1], RedisConnectionError) for record in caplog.records if record.exc_info)


def broker_connection() -> Any:
    """A kombu connection through the transport the settings select (kombu's type stubs miss most of its API)."""
    from kombu import Connection

    assert settings.CELERY_BROKER_TRANSPORT == "omnidesk.broker:Transport"
    connect: Any = Connection
    return connect(settings.REDIS_URL, transport=settings.CELERY_BROKER_TRANSPORT)


def test_the_broker_channel_reuses_one_redis_client_until_its_pool_changes() -> None:
    with broker_connection() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        given = object()
        with channel.conn_or_acquire(given) as passed:
            assert passed is given
        channel._disconnect_pools()  # what a reconnect does: the client follows the new pool
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping()


def test_tasks_go_through_the_broker_and_back_with_the_shared_client() -> None:
    from kombu import Queue

    name = f"test-broker-{uuid.uuid4().hex}"
    with broker_connection() as connection:
        queue: Any = Queue(name, channel=connection.default_channel)
        queue.declare()
        producer = connection.Producer()
        for n in range(3):
            producer.publish({"n": n}, routing_key=name, serializer="json")
        got = []
        for _n in range(3):
            message = queue.get(no_ack=False)
            assert message is not None
            got.append(message.payload["n"])
            message.ack()
        assert got == [0, 1, 2]
        assert queue.get() is None
        queue.delete()
