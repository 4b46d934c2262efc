"""Calls to the providers' HTTP APIs, with one error policy for every sender.

Timeouts, connection errors, 429 and 5xx are worth retrying (TransientDeliveryError); any other 4xx is the provider
refusing the message for good (DeliveryError). Error texts carry the provider's explanation but never the URL: some
URLs hold a secret (Telegram's bot token).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from interactions.outbound import DeliveryError, TransientDeliveryError

_local = threading.local()


def client() -> httpx.Client:
    """One pooled client per thread: connections to a provider are reused from one send to the next."""
    if getattr(_local, "client", None) is None:
        _local.client = httpx.Client(timeout=settings.OMNIDESK_PROVIDER_TIMEOUT, follow_redirects=False)
    return _local.client


def provider_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)[:300]
        for key in ("message", "description", "error", "detail"):
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:300]


def call(method: str, url: str, *, provider: str, **kwargs: Any) -> dict[str, Any]:
    """Send one request; the JSON answer on 2xx, else the error the task knows how to handle."""
    try:
        response = client().request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise TransientDeliveryError(
            _("%(provider)s did not answer within %(seconds)g s.")
            % {"provider": provider, "seconds": settings.OMNIDESK_PROVIDER_TIMEOUT}
        ) from None
    except httpx.TransportError as error:
        raise TransientDeliveryError(
            _("Could not connect to %(provider)s (%(error)s).") % {"provider": provider, "error": type(error).__name__}
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientDeliveryError(
            _("%(provider)s answered %(status)s: %(error)s")
            % {"provider": provider, "status": response.status_code, "error": provider_error(response)}
        )
    if response.status_code >= 400:
        raise DeliveryError(
            _("%(provider)s refused the message (%(status)s): %(error)s")
            % {"provider": provider, "status": response.status_code, "error": provider_error(response)}
        )
    try:
        body = response.json()
    except ValueError:
        raise TransientDeliveryError(
            _("%(provider)s answered %(status)s without JSON.") % {"provider": provider, "status": response.status_code}
        ) from None
    return body if isinstance(body, dict) else {"result": body}
