"""The Redis pub/sub channel layer, with its PUBLISHes pipelined (settings.CHANNEL_LAYERS; used by omnidesk.realtime).

channels_redis's `RedisPubSubChannelLayer` sends every `group_send` as one PUBLISH under the shard's single lock:
one Redis round trip at a time for the whole server process. A round trip costs at least one turn of the event loop,
so on a busy loop (hundreds of sockets, a loaded machine) the process publishes at most a few hundred frames per
second and every sender waits in that lock's queue. Profiled under bench/desk_typing.py (docs/typing.md): a single
typing PUBLISH waited 1.1 s at the median, 7.6 s at p99, and typing frames arrived seconds late.

Here a lone PUBLISH goes out at once, as upstream, and those asked for while it (or a pipeline) is on its way go out
together in the next pipeline (one round trip for all of them), in the order they were asked for; each `group_send`
still returns only once Redis has its message, raising if it failed.
Subscriptions keep the upstream lock; publishing never needed it (a different connection).

Outside an event loop (the Celery worker announcing what a task committed), `publish_now` sends a batch's frames in
one synchronous pipeline per shard from the calling thread: no hand-over to a loop thread and back, one round trip.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _consistent_hash, _wrap_close

# Seconds a synchronous publish (`publish_now`) may wait on Redis: a task must not hang on a dead server, and its
# frames are best effort anyway (clients replay from the Event rows).
SYNC_TIMEOUT = 5.0
# At most this many PUBLISHes per pipeline: one round trip stays short, and a flood of senders still progresses.
MAX_BATCH = 500


class PipelinedShardConnection(RedisSingleShardConnection):
    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._pending: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._busy = False

    async def publish(self, channel: str, message: bytes) -> None:
        if self._busy:
            # A round trip is under way: wait for the next pipeline, with everyone else who arrives meanwhile.
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._pending.append((channel, message, future))
            await future
            return
        # Nobody waiting: one plain PUBLISH, as cheap as upstream's (a lone sender, the Celery worker's loop).
        self._busy = True
        try:
            self._ensure_redis()
            await self._redis.publish(channel, message)
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._pending:
            self._publisher = asyncio.create_task(self._publish_pending())
        else:
            self._busy = False

    async def _publish_pending(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._publish_batch(batch)
        finally:
            self._busy = False
            self._publisher = None

    async def _publish_batch(self, batch: list[tuple[str, bytes, asyncio.Future[None]]]) -> None:
        try:
            self._ensure_redis()
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, message, _future in batch:
                    pipe.publish(channel, message)
                await pipe.execute()
        except asyncio.CancelledError:
            # flush() (the loop closing): nobody may wait forever on a message that was never sent.
            for *_message, future in batch:
                future.cancel()
            raise
        except Exception as error:
            for *_message, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for *_message, future in batch:
                if not future.done():
                    future.set_result(None)

    async def flush(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            self._publisher = None
        for *_message, future in self._pending:
            future.cancel()
        self._pending = []
        self._busy = False
        await super().flush()


class PipelinedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        upstream: list[RedisSingleShardConnection] = self._shards  # type: ignore[has-type]
        self._shards = [PipelinedShardConnection(shard.host, self) for shard in upstream]


class PipelinedPubSubChannelLayer(RedisPubSubChannelLayer):
    """`RedisPubSubChannelLayer` whose per-loop layers publish through `PipelinedShardConnection`."""

    _naming: RedisPubSubLoopLayer | None = None
    _sync_shards: list[redis.Redis] | None = None
    _sync_pid = 0

    def publish_now(self, sends: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """`group_send` each (group, message) from synchronous code, in order: one pipeline per shard, so one Redis
        round trip for a whole batch. Raises when Redis refused or could not be reached (within SYNC_TIMEOUT).

        Same group channel names, shards and serialization as `group_send` (upstream's own code computes them); only
        a host given by address is supported, which is what settings.CHANNEL_LAYERS configures.
        """
        naming, shards = self._sync_publishers()
        pipelines: dict[int, Any] = {}
        for group, message in sends:
            name = naming._get_group_channel_name(group)
            index = _consistent_hash(name, len(shards))
            if index not in pipelines:
                pipelines[index] = shards[index].pipeline(transaction=False)
            pipelines[index].publish(name, self.serialize(dict(message)))
        for pipeline in pipelines.values():
            pipeline.execute()

    def _sync_publishers(self) -> tuple[RedisPubSubLoopLayer, list[redis.Redis]]:
        # Per process: a forked worker child must not share its parent's sockets (redis-py checks the pid of its
        # pool too; this keeps the clients themselves per process).
        if self._naming is None or self._sync_shards is None or self._sync_pid != os.getpid():
            naming = RedisPubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            shards = []
            for shard in naming._shards:
                host = dict(shard.host)
                address = host.pop("address")
                host.setdefault("socket_timeout", SYNC_TIMEOUT)
                host.setdefault("socket_connect_timeout", SYNC_TIMEOUT)
                shards.append(redis.Redis.from_url(address, **host))
            self._naming, self._sync_shards, self._sync_pid = naming, shards, os.getpid()
        return self._naming, self._sync_shards

    def _get_layer(self) -> PipelinedLoopLayer:
        loop = asyncio.get_running_loop()
        try:
            layer: PipelinedLoopLayer = self._layers[loop]
        except KeyError:
            layer = PipelinedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
