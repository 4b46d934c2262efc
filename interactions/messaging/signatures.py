"""Authenticity of webhook requests, exactly as each provider signs them. Pure functions: bytes and strings in.

Every comparison is constant-time (hmac.compare_digest) on bytes: a header is a `str` that may carry any character
(WSGI decodes headers as Latin-1), and compare_digest raises TypeError on a non-ASCII `str`, which used to turn a
forged header into a 500. A function returns the reason for refusing, or "" when the request is authentic, so that
the view can count refusals by reason without ever echoing a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MISSING = "missing signature"
MISMATCH = "signature mismatch"
NO_SECRET = "channel has no secret configured"
STALE = "timestamp outside the replay window"
MALFORMED = "malformed signature"
OTHER_ACCOUNT = "event for another number or page"


def as_bytes(value: str) -> bytes:
    """A header or secret as bytes for compare_digest: UTF-8, any unencodable character (a lone surrogate) replaced,
    so that no input can raise."""
    return value.encode("utf-8", errors="replace")


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of two strings or byte strings; never raises."""
    left = expected if isinstance(expected, bytes) else as_bytes(expected)
    right = given if isinstance(given, bytes) else as_bytes(given)
    return hmac.compare_digest(left, right)


def twilio_signature(*, auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: base64(HMAC-SHA1(auth token, full URL + each name+value, sorted by name)).

    Like Twilio's own validator, repeated parameters are sorted by value under their name.
    """
    data = url + "".join(f"{name}{value}" for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), as_bytes(data), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as received, and with the default port added or removed: Twilio signs the URL exactly as it was
    configured, and proxies differ on whether the port survives."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    variants = [url]
    if parts.port is None and default is not None and parts.hostname:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    elif parts.port == default and parts.hostname:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    return variants


def check_twilio(*, auth_token: str, url: str, params: list[tuple[str, str]], signature: str | None) -> str:
    if not auth_token:
        return NO_SECRET
    if not signature:
        return MISSING
    for candidate in _url_variants(url):
        expected = twilio_signature(auth_token=auth_token, url=candidate, params=params)
        if same(expected, signature.strip()):
            return ""
    return MISMATCH


def meta_signature(*, app_secret: str, body: bytes) -> str:
    """Meta's X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def check_meta(*, app_secret: str, body: bytes, signature: str | None) -> str:
    if not app_secret:
        return NO_SECRET
    if not signature:
        return MISSING
    expected = meta_signature(app_secret=app_secret, body=body)
    return "" if same(expected, signature.strip().lower()) else MISMATCH


def check_shared_token(*, secret_token: str, header: str | None) -> str:
    """A shared token echoed by the provider: Telegram's X-Telegram-Bot-Api-Secret-Token, Meta's hub.verify_token."""
    if not secret_token:
        return NO_SECRET
    if not header:
        return MISSING
    return "" if same(secret_token, header) else MISMATCH


def api_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The API channel's X-Omnidesk-Signature: "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def check_api(
    *, secret: str, timestamp: str | None, body: bytes, signature: str | None, window: int, now: float | None = None
) -> str:
    """Signed timestamp + body; a request older (or further in the future) than `window` seconds is a replay."""
    if not secret:
        return NO_SECRET
    if not signature or not timestamp:
        return MISSING
    if not (timestamp.isascii() and timestamp.isdigit()):
        return MALFORMED  # int() would also take "１２" (full-width digits), " 12" or "1_2"
    sent_at = int(timestamp)
    if abs((now if now is not None else time.time()) - sent_at) > window:
        return STALE
    expected = api_signature(secret=secret, timestamp=timestamp, body=body)
    return "" if same(expected, signature.strip().lower()) else MISMATCH
