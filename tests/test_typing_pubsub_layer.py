"""The pub/sub channel layer with pipelined PUBLISHes (omnidesk/pubsub_layer.py, docs/typing.md), on the real Redis:
what many senders publish at once all arrives, in the order it was asked for, and a failure reaches every sender."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError

from omnidesk.pubsub_layer import PipelinedPubSubChannelLayer

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the pub/sub layer needs Redis")


async def test_it_delivers_concurrent_publishes_all_and_in_order() -> None:
    layer = PipelinedPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=f"test-{uuid.uuid4().hex}")
    try:
        channel = await layer.new_channel()
        await layer.group_add("typing", channel)
        # 300 senders at once: the first goes alone, the others wait for it and leave in pipelines.
        await asyncio.gather(*(layer.group_send("typing", {"type": "t", "n": n}) for n in range(300)))
        received = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _n in range(300)]
        assert received == list(range(300))
        # A lone sender afterwards still goes out (nothing left pending or busy).
        await layer.group_send("typing", {"type": "t", "n": 300})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == 300
    finally:
        await layer.flush()


async def test_it_raises_to_every_sender_when_redis_cannot_be_reached() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    layer = PipelinedPubSubChannelLayer(hosts=[f"redis://127.0.0.1:{closed_port}/0"], prefix="unreachable")
    try:
        results = await asyncio.gather(
            *(layer.group_send("typing", {"type": "t", "n": n}) for n in range(20)), return_exceptions=True
        )
        assert len(results) == 20
        assert all(isinstance(result, RedisConnectionError) for result in results), results
    finally:
        await layer.flush()
