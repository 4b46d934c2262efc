"""Which messaging channel a webhook URL names. Verifying, counting refusals, storing and answering are the one
intake of every channel family (interactions/intake.py)."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from django.http import Http404

from interactions.messaging.models import PROVIDERS_BY_KIND
from interactions.models import Channel

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
