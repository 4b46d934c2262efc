"""The one signed-webhook intake of every channel family (messaging, phone, mail): verify → store → enqueue → answer.

Each provider's view does only what is its own — find the channel its URL names, read the provider's headers and
parameters, turn an authentic body into (external id, payload) events — and hands the rest to `receive_signed`:

1. verify: the provider's signature, computed here from the raw bytes and compared in constant time on bytes
   (a header is a `str` that may carry any character, and `hmac.compare_digest` raises TypeError on a non-ASCII
   `str`: a forged header must be a 403, never a 500);
2. refuse: a forged, stale or unsigned request raises `WebhookRefused` (403) after being counted once, in one place
   (`count_rejection`: the SignatureRejection row of the channel, provider and day, plus one log line);
3. store: every event of the request in one transaction (`store_inbound_event`, which enqueues its processing once
   committed); a redelivery stores nothing new;
4. answer: only after the commit. When the database is down anywhere on that path, `StorageUnavailable` (503 with
   Retry-After) so that the provider retries: never a 2xx for something not stored, never a 500.

Decided where the families had drifted (tests/test_intake.py proves each):
- every family counts its refusals (CTI, Twilio Voice and Mailgun counted nothing before);
- every family answers 503 + Retry-After when the database is down (CTI, Twilio Voice and Mailgun answered 500);
- Twilio's signature is checked the same way for SMS/WhatsApp and for Voice: the channel's configured public URL
  (`twilio_status_url`, for proxies) if any, else the URL as received, each with and without the scheme's default
  port; repeated parameters are all signed, sorted by value under their name (Voice used to keep the last one);
- the timestamped HMAC (API channel, CTI) is one algorithm; the "sha256=" prefix of the signature is optional for
  both (the CTI already took a bare hex digest; a PBX integration relies on it), each keeps its replay window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from interactions.adapters import InvalidPayload
from interactions.inbound import store_inbound_event
from interactions.messaging.models import SignatureRejection
from interactions.models import Channel
from omnidesk.errors import StorageUnavailable, WebhookRefused

logger = logging.getLogger(__name__)
DATABASE_DOWN = (OperationalError, InterfaceError)
Events = list[tuple[str, dict[str, Any]]]

MISSING = "missing signature"
MISMATCH = "signature mismatch"
NO_SECRET = "channel has no secret configured"
STALE = "timestamp outside the replay window"
MALFORMED = "malformed signature"
OTHER_ACCOUNT = "event for another number or page"


# --- the providers' signature algorithms: bytes and strings in, "" when authentic or the reason for refusing -----


def as_bytes(value: str) -> bytes:
    """A header or secret as bytes: UTF-8, any unencodable character (a lone surrogate) replaced, so nothing raises."""
    return value.encode("utf-8", errors="replace")


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of two strings or byte strings; never raises."""
    left = expected if isinstance(expected, bytes) else as_bytes(expected)
    right = given if isinstance(given, bytes) else as_bytes(given)
    return hmac.compare_digest(left, right)


def twilio_signature(*, auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: base64(HMAC-SHA1(auth token, full URL + each name+value, sorted by name));
    like Twilio's own validator, repeated parameters are sorted by value under their name."""
    data = url + "".join(f"{name}{value}" for name, value in sorted(params))
    return base64.b64encode(hmac.new(as_bytes(auth_token), as_bytes(data), hashlib.sha1).digest()).decode()


def url_variants(url: str) -> list[str]:
    """The URL, and with the default port added or removed: Twilio signs the URL exactly as it was configured, and
    proxies differ on whether the port survives."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    variants = [url]
    if parts.port is None and default is not None and parts.hostname:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    elif parts.port == default and parts.hostname:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    return variants


def twilio_urls(*, channel: Channel, request: HttpRequest) -> list[str]:
    """The URLs Twilio may have signed: the public one the channel names (`twilio_status_url`, for a proxy), then the
    one received."""
    configured = str((channel.config or {}).get("twilio_status_url") or "")
    return [url for url in (configured, request.build_absolute_uri()) if url]


def check_twilio(*, auth_token: str, urls: Iterable[str], params: list[tuple[str, str]], signature: str | None) -> str:
    """`urls`: the public URL the channel names (if any) and the URL as received, in that order."""
    if not auth_token:
        return NO_SECRET
    if not signature:
        return MISSING
    for url in urls:
        for candidate in url_variants(url):
            if same(twilio_signature(auth_token=auth_token, url=candidate, params=params), signature.strip()):
                return ""
    return MISMATCH


def meta_signature(*, app_secret: str, body: bytes) -> str:
    """Meta's X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(as_bytes(app_secret), body, hashlib.sha256).hexdigest()


def check_meta(*, app_secret: str, body: bytes, signature: str | None) -> str:
    if not app_secret:
        return NO_SECRET
    if not signature:
        return MISSING
    return "" if same(meta_signature(app_secret=app_secret, body=body), signature.strip().lower()) else MISMATCH


def check_shared_token(*, secret_token: str, header: str | None) -> str:
    """A shared token echoed by the provider: Telegram's X-Telegram-Bot-Api-Secret-Token, Meta's hub.verify_token."""
    if not secret_token:
        return NO_SECRET
    if not header:
        return MISSING
    return "" if same(secret_token, header) else MISMATCH


def timestamped_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """Our own signature (API channel, CTI, click-to-call): "sha256=" + hex HMAC-SHA256(secret, timestamp + "." +
    raw body)."""
    return "sha256=" + hmac.new(as_bytes(secret), as_bytes(timestamp) + b"." + body, hashlib.sha256).hexdigest()


def check_timestamped(
    *, secret: str, timestamp: str | None, body: bytes, signature: str | None, window: int, now: float | None = None
) -> str:
    """Signed timestamp + body; a request older (or further in the future) than `window` seconds is a replay."""
    if not secret:
        return NO_SECRET
    if not signature or not timestamp:
        return MISSING
    if not (timestamp.isascii() and timestamp.isdigit()):
        return MALFORMED  # int() would also take "１２" (full-width digits), " 12" or "1_2"
    if abs((now if now is not None else time.time()) - int(timestamp)) > window:
        return STALE
    given = signature.strip().lower()
    given = given if given.startswith("sha256=") else f"sha256={given}"
    return "" if same(timestamped_signature(secret=secret, timestamp=timestamp, body=body), given) else MISMATCH


# --- refusals: counted once, in one place ---------------------------------------------------------------------------

# A flood of forgeries must not become a flood of writes (or log lines): per process, each (channel, provider) writes
# at most OMNIDESK_REJECTION_WRITES_PER_MINUTE times a window (OMNIDESK_REJECTION_WINDOW_SECONDS). Refusals beyond
# that are added up in memory and written with the next write of that key, so the day's count stays exact (lagging
# by a window under a flood) with a bounded number of statements.
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


def refuse(*, channel: Channel, provider: str, reason: str) -> WebhookRefused:
    """Count the refusal and return the exception to raise."""
    count_rejection(channel=channel, provider=provider, reason=reason)
    return WebhookRefused(reason)


# --- the pipeline ---------------------------------------------------------------------------------------------------


@contextmanager
def storage_guard() -> Iterator[None]:
    """Whatever touches the database on the intake path (finding the channel included): down → StorageUnavailable."""
    try:
        yield
    except DATABASE_DOWN as error:
        raise StorageUnavailable("database unavailable, retry later") from error


def keep_unreadable(parse: Callable[[], Events], raw: bytes) -> Events:
    """The request's events, or — for an authentic request we cannot read — the raw body as one event, kept for an
    admin to see (it is dead-lettered when processed) instead of being lost."""
    try:
        return parse()
    except (InvalidPayload, ValueError, KeyError, TypeError, AttributeError) as error:
        digest = hashlib.sha256(raw).hexdigest()
        text = raw.decode("utf-8", errors="replace")[:100_000]
        return [(f"unparseable:{digest}", {"unparseable": text, "error": f"{type(error).__name__}: {error}"[:500]})]


def store_events(*, channel: Channel, provider: str, events: Events) -> int:
    """Store (and enqueue once committed) every event of one request in one transaction; the number new.

    One event (nearly every request) is stored by its one INSERT in autocommit: that statement is the transaction,
    and `on_commit` outside a block runs the nudge at once, after it. BEGIN and COMMIT around it were two more round
    trips to PostgreSQL and a tenth of the accept path's CPU (docs/performance-hooks.md)."""
    if len(events) == 1:
        ((external_id, payload),) = events
        return int(
            store_inbound_event(channel=channel, external_id=external_id[:200], payload=payload, provider=provider)
            is not None
        )
    with transaction.atomic():
        return sum(
            store_inbound_event(channel=channel, external_id=external_id[:200], payload=payload, provider=provider)
            is not None
            for external_id, payload in events
        )


def receive_signed(*, channel: Channel, provider: str, refusal: str, events: Callable[[], Events]) -> int:
    """The intake of one webhook request whose signature was checked (`refusal`: "" when authentic, else why not):
    count and raise WebhookRefused, or store its events and return how many were new. Raises StorageUnavailable
    when the database is down. `events` is called only for an authentic request."""
    with storage_guard():
        if refusal:
            raise refuse(channel=channel, provider=provider, reason=refusal)
        return store_events(channel=channel, provider=provider, events=events())


# --- answers of the plain Django views (DRF views get theirs from omnidesk.errors) ----------------------------------


def too_large(request: HttpRequest) -> HttpResponse | None:
    """413 before reading a body announced larger than DATA_UPLOAD_MAX_MEMORY_SIZE (Django alone would answer 400)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse("bad Content-Length\n", status=400, content_type="text/plain")
    if length > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) > 0:
        return HttpResponse("request body too large\n", status=413, content_type="text/plain")
    return None


def answer(handle: Callable[[], HttpResponse]) -> HttpResponse:
    """Run a plain view's intake; a refusal is a 403, a database outage a 503 with Retry-After (text bodies)."""
    try:
        with storage_guard():
            return handle()
    except WebhookRefused as refused:
        return HttpResponse(f"{refused}\n", status=WebhookRefused.status_code, content_type="text/plain")
    except StorageUnavailable as down:
        response = HttpResponse(f"{down}\n", status=StorageUnavailable.status_code, content_type="text/plain")
        response["Retry-After"] = str(StorageUnavailable.retry_after)
        return response
