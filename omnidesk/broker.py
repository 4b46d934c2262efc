"""The Celery broker's Redis transport, with one Redis client per channel instead of one per operation.

kombu's Redis channel builds a new `redis.Redis` object for each synchronous operation (`conn_or_acquire`): every
publish, and, in the worker's main process, the unacked bookkeeping of every delivered message (`QoS.append` when a
task arrives, `QoS.ack` when it is done). The connections come from the channel's pool either way; only the client
object is new, and since redis-py 5 building one fills a case-insensitive table of ~170 response callbacks. Profiled
under the chat benchmark (docs/performance-latency.md): these clients were a quarter of the worker main process's CPU,
~0.5 ms per task, and ~0.1 ms of each publish in the web process. A `redis.Redis` is safe to share between threads
(each command takes a connection from the pool), so one per channel does the same work.

Selected by `CELERY_BROKER_TRANSPORT` (omnidesk/settings.py) when the broker is Redis; everything else is kombu's.

It also keeps a worker alive through a broker restart. When the worker's consumer loses Redis, kombu closes the
connection's transport (its connection info becomes None), then the default channel, whose close gives back the
messages still unacknowledged: with its pool already dropped, kombu built a new one from the connection info, and
the AttributeError (celery/kombu#582) is not a connection error, so Celery called it unrecoverable and the worker
exited (the faults benchmark's `worker_exits: 1`, once per Redis restart, docs/performance.md). The last client's
pool reconnects on use instead: the messages are given back if Redis is up again, and if it is not, the connection
error is one that closing ignores, and kombu's visibility timeout gives them back later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self._shared_client
        if self._pool is None and self.connection.client is None:
            # Closing after the transport was closed: no connection info to build a pool from (see above).
            if shared is None:
                raise RedisConnectionError("the broker connection is closed")
            yield shared
            return
        # The pool is replaced when the channel reconnects (`_disconnect_pools`): a client follows its pool.
        if shared is None or shared.connection_pool is not self.pool:
            shared = self._shared_client = self._create_client()
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel
