"""Storing webhook requests: authentic ones become InboundEvents (answered after commit), forged ones are counted.

Shared by every provider's view: find the channel, count a refusal, store the events of one request in one
transaction, and answer 503 when the database is down so that the provider retries later.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from interactions.adapters import InvalidPayload
from interactions.inbound import record_inbound_event
from interactions.messaging.models import PROVIDERS_BY_KIND, SignatureRejection
from interactions.models import Channel

logger = logging.getLogger(__name__)
DATABASE_DOWN = (OperationalError, InterfaceError)
Events = list[tuple[str, dict[str, Any]]]


# The channel of every webhook, looked up for each request, was a fifth of the accept path's time. Found channels are
# kept CHANNEL_CACHE_SECONDS per process; a save or delete in this process drops them at once (`forget_channels`),
# so an edit made elsewhere (another process, a queryset update) takes effect within that delay.
CHANNEL_CACHE_SECONDS = 2.0
_channels: dict[tuple[str, UUID], tuple[float, Channel]] = {}
_channels_lock = threading.Lock()


def forget_channels(**_kwargs: Any) -> None:
    with _channels_lock:
        _channels.clear()


def get_webhook_channel(*, provider: str, uuid: UUID) -> Channel:
    """The active channel this URL names, if it takes webhooks from `provider`; 404 otherwise."""
    key = (provider, uuid)
    cached = _channels.get(key)
    if cached is not None and time.monotonic() - cached[0] < CHANNEL_CACHE_SECONDS:
        return cached[1]
    channel = _find_webhook_channel(provider=provider, uuid=uuid)
    with _channels_lock:
        _channels[key] = (time.monotonic(), channel)
    return channel


def _find_webhook_channel(*, provider: str, uuid: UUID) -> Channel:
    kinds = [kind for kind, providers in PROVIDERS_BY_KIND.items() if provider in providers]
    channel = Channel.objects.filter(uuid=uuid, kind__in=kinds, is_active=True).first()
    if channel is None:
        raise Http404("No such channel")
    configured = channel.config.get("provider") or PROVIDERS_BY_KIND[channel.kind][0]
    if configured != provider:
        raise Http404("No such channel")
    return channel


# Refused requests are counted, not stored; and a flood of forgeries must not become a flood of writes (or log lines):
# per process, each (channel, provider) writes at most OMNIDESK_REJECTION_WRITES_PER_MINUTE times a window
# (OMNIDESK_REJECTION_WINDOW_SECONDS). Refusals beyond that are added up in memory and written with the next write of
# that key, so the day's count stays exact (lagging by a window under a flood) with a bounded number of statements.
_rejections: dict[tuple[int, str], list[float | int]] = {}  # key → [window start, writes in window, unwritten]
_rejections_lock = threading.Lock()


def count_rejection(*, channel: Channel, provider: str, reason: str) -> None:
    """Count one refused request in the day's row for this channel and provider (within the write budget)."""
    key, now = (channel.pk, provider), time.monotonic()
    budget = settings.OMNIDESK_REJECTION_WRITES_PER_MINUTE
    with _rejections_lock:
        window = _rejections.setdefault(key, [now, 0, 0])
        if now - window[0] >= settings.OMNIDESK_REJECTION_WINDOW_SECONDS:
            window[:] = [now, 0, window[2]]
        window[2] = int(window[2]) + 1
        if window[1] >= budget:
            return  # over budget: counted in memory, written with this key's next write
        window[1] = int(window[1]) + 1
        pending, window[2] = int(window[2]), 0
    try:
        _write_rejections(channel=channel, provider=provider, reason=reason, count=pending)
    except DATABASE_DOWN:
        with _rejections_lock:
            _rejections[key][2] = int(_rejections[key][2]) + pending
        raise
    logger.warning("refused %d %s webhook(s) for channel %s: %s", pending, provider, channel.pk, reason)


def _write_rejections(*, channel: Channel, provider: str, reason: str, count: int) -> None:
    now = timezone.now()
    table = SignatureRejection._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (channel_id, provider, day, count, last_reason, last_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (channel_id, provider, day) DO UPDATE SET count = {table}.count + EXCLUDED.count,"
            " last_reason = EXCLUDED.last_reason, last_at = EXCLUDED.last_at",
            [channel.pk, provider, now.date(), count, reason[:200], now],
        )


def too_large(request: HttpRequest) -> HttpResponse | None:
    """413 before reading a body announced larger than DATA_UPLOAD_MAX_MEMORY_SIZE (Django alone would answer 400)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse("bad Content-Length\n", status=400, content_type="text/plain")
    if length > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) > 0:
        return HttpResponse("request body too large\n", status=413, content_type="text/plain")
    return None


def parse_or_keep(parse: Callable[[], Events], raw: bytes) -> Events:
    """The request's events, or — for an authentic request we cannot read — the raw body as one event, kept for an
    admin to see (it is dead-lettered when processed) instead of being lost."""
    try:
        return parse()
    except (InvalidPayload, ValueError, KeyError, TypeError, AttributeError) as error:
        digest = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8", errors="replace")[:100_000]
        return [(f"unparseable:{digest}", {"unparseable": text, "error": f"{type(error).__name__}: {error}"[:500]})]


def store_events(*, channel: Channel, provider: str, events: Events) -> int:
    """Store every event of one request in one transaction; the number new (0: a redelivery)."""
    with transaction.atomic():
        return sum(
            record_inbound_event(channel=channel, external_id=external_id[:200], payload=payload, provider=provider)[1]
            for external_id, payload in events
        )


def unavailable() -> HttpResponse:
    response = HttpResponse("database unavailable, retry later\n", status=503, content_type="text/plain")
    response["Retry-After"] = "5"
    return response


def forbidden(reason: str) -> HttpResponse:
    return HttpResponse(f"{reason}\n", status=403, content_type="text/plain")
