"""Webhooks signed the way each provider signs them, for the tests: one helper per public algorithm.

Written from the providers' documentation, independently of interactions/intake.py, so that a mistake there cannot
cancel itself out in a test:
- Twilio (messaging and voice): X-Twilio-Signature = base64(HMAC-SHA1(auth token, full URL + each name+value of the
  POST parameters sorted by name));
- Meta (WhatsApp, Messenger, Instagram): X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app secret, raw body);
- Telegram: the secret token echoed in X-Telegram-Bot-Api-Secret-Token;
- ours (API channel, CTI): X-Omnidesk-Timestamp = Unix seconds, X-Omnidesk-Signature = "sha256=" + hex
  HMAC-SHA256(secret, "<timestamp>." + raw body);
- Mailgun: the form's signature = hex HMAC-SHA256(signing key, timestamp + token).

Every test that signs or checks a webhook signature goes through this module. `digest` and `prefix` exist only for
the abuse tests that forge a signature with another algorithm; their defaults are the providers'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# A hashlib constructor (hashlib.sha1, hashlib.sha256, …), as hmac.new takes it.
Digest = Callable[..., Any]


def twilio_signature(
    *, token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]], digest: Digest = hashlib.sha1
) -> str:
    pairs = sorted(params.items() if isinstance(params, Mapping) else params)
    data = url + "".join(name + value for name, value in pairs)
    return base64.b64encode(hmac.new(token.encode(), data.encode(), digest).digest()).decode()


def twilio_headers(*, token: str, url: str, params: Mapping[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": twilio_signature(token=token, url=url, params=params)}


def meta_signature(*, secret: str, body: bytes, digest: Digest = hashlib.sha256, prefix: str = "sha256=") -> str:
    return prefix + hmac.new(secret.encode(), body, digest).hexdigest()


def meta_headers(*, secret: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": meta_signature(secret=secret, body=body)}


def telegram_headers(*, secret_token: str) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret_token}


def omnidesk_signature(
    *, secret: str, timestamp: str, body: bytes, digest: Digest = hashlib.sha256, prefix: str = "sha256="
) -> str:
    return prefix + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, digest).hexdigest()


def omnidesk_headers(
    *,
    secret: str,
    body: bytes,
    timestamp: int | str | None = None,
    digest: Digest = hashlib.sha256,
    prefix: str = "sha256=",
) -> dict[str, str]:
    """The API channel's and the CTI's headers; `timestamp` (Unix seconds, or any text a forgery needs) defaults to
    now."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Omnidesk-Timestamp": stamp,
        "X-Omnidesk-Signature": omnidesk_signature(
            secret=secret, timestamp=stamp, body=body, digest=digest, prefix=prefix
        ),
    }


def mailgun_fields(*, key: str, token: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": signature}
