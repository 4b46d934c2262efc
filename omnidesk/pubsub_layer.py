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
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close

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

    def _get_layer(self) -> PipelinedLoopLayer:
        loop = asyncio.get_running_loop()
        try:
            layer: PipelinedLoopLayer = self._layers[loop]
        except KeyError:
            layer = PipelinedLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
