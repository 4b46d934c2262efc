"""Rate limits of the chat widget: token buckets per socket, per visitor, and for new visitors per client address.

A bucket holds up to `burst` tokens and refills at `rate` tokens a second; taking a token from an empty bucket answers
how long to wait instead. Buckets shared by several sockets or server processes (a visitor's tabs, a client address)
live in Redis when the deployment has one, updated by one Lua script so that concurrent takes never overdraw; the
embedded default (one process, no Redis) keeps them in memory.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any

import redis
from asgiref.sync import sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)


def setting(name: str, default: float) -> float:
    """`settings.<name>` when the settings define it, else the environment variable of that name, else `default`."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name) or default
    return float(value)


def socket_rate() -> tuple[float, float]:
    """Frames a second one socket may send, and its burst."""
    return setting("OMNIDESK_WIDGET_SOCKET_RATE", 2), setting("OMNIDESK_WIDGET_SOCKET_BURST", 20)


def visitor_rate() -> tuple[float, float]:
    """Messages a second one visitor may send, over all their sockets, and the burst."""
    return setting("OMNIDESK_WIDGET_VISITOR_RATE", 1), setting("OMNIDESK_WIDGET_VISITOR_BURST", 10)


def new_visitors_per_minute() -> float:
    """New visitors (hellos without a valid token) one client address may start per minute; also the burst."""
    return setting("OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE", 30)


class TokenBucket:
    """An in-memory bucket, for one socket (or every bucket of the embedded default)."""

    def __init__(self, *, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self, now: float | None = None) -> float:
        """Take one token: 0.0 when taken, else the seconds until one will be available (nothing is taken)."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else math.inf


# Redis' own clock, so that every server process agrees on time; EXPIRE drops a bucket once it would be full again.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""

_lock = threading.Lock()
_memory: dict[str, TokenBucket] = {}
_client: Any = None
_MEMORY_LIMIT = 50_000


def _redis() -> Any:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _client


def take(*, bucket: str, rate: float, burst: float) -> float:
    """Take one token from the shared bucket named `bucket`: 0.0 when allowed, else seconds to wait.

    Fails open (allows) when Redis does not answer: the chat must not stop because a limiter is down, and without
    Redis the channel layer is down too.
    """
    if rate <= 0:
        return math.inf
    if settings.REDIS_URL:
        try:
            return float(_redis().eval(_TAKE, 1, f"omnidesk:ratelimit:{bucket}", rate, burst))
        except redis.RedisError:
            logger.warning("widget rate limiter unavailable; allowing %s", bucket, exc_info=True)
            return 0.0
    with _lock:
        if len(_memory) > _MEMORY_LIMIT:
            # Buckets that have refilled completely carry no state worth keeping.
            now = time.monotonic()
            for key in [k for k, b in _memory.items() if (now - b.at) * b.rate >= b.burst]:
                del _memory[key]
        state = _memory.get(bucket)
        if state is None or state.rate != rate or state.burst != burst:
            state = _memory[bucket] = TokenBucket(rate=rate, burst=burst)
        return state.take()


async def atake(*, bucket: str, rate: float, burst: float) -> float:
    return await sync_to_async(take, thread_sensitive=False)(bucket=bucket, rate=rate, burst=burst)


async def anew_visitor(*, address: str) -> float:
    """Account for a new visitor started from the client `address`: 0.0 when allowed, else seconds to wait."""
    per_minute = new_visitors_per_minute()
    return await atake(bucket=f"widget-new:{address}", rate=per_minute / 60, burst=per_minute)


def visitor_message(*, visitor_id: str) -> float:
    """Account for one message (or follow-up address) of the visitor: 0.0 when allowed, else seconds to wait."""
    rate, burst = visitor_rate()
    return take(bucket=f"widget-visitor:{visitor_id}", rate=rate, burst=burst)


async def avisitor_message(*, visitor_id: str) -> float:
    return await sync_to_async(visitor_message, thread_sensitive=False)(visitor_id=visitor_id)
