"""Whether a Mailgun inbound webhook call is genuine, fresh, unused and meant for the channel.

Mailgun signs `timestamp + token` (HMAC-SHA256 with the channel's webhook signing key), not the message: a captured
signature would carry any other message forever. So beside the signature, a call must be recent
(`webhook_max_age` on the channel, else OMNIDESK_EMAIL_WEBHOOK_MAX_AGE, default 5 minutes), its token must not have
been used before (WebhookToken rows), and its recipient must be the channel's own address. A refusal is the intake's
WebhookRefused (interactions/intake.py): counted and answered 403 like every other webhook's.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import timedelta
from email.utils import getaddresses

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from interactions.mail import loops, threads
from interactions.mail.models import WebhookToken
from interactions.models import Channel
from omnidesk.errors import WebhookRefused

DEFAULT_MAX_AGE = 300
MAX_TOKEN = 256


def max_age(channel: Channel) -> int:
    default = getattr(settings, "OMNIDESK_EMAIL_WEBHOOK_MAX_AGE", DEFAULT_MAX_AGE)
    return int(channel.config.get("webhook_max_age", default))


def verify_mailgun_signature(
    *, channel: Channel, form: Mapping[str, str], signing_key: str, now: float | None = None
) -> str:
    """The call's token when its signature is right and recent; raises WebhookRefused otherwise. Never raises
    anything else on hostile input (non-ASCII, huge or missing fields)."""
    token, timestamp, signature = (str(form.get(name, "") or "") for name in ("token", "timestamp", "signature"))
    if not (token and timestamp and signature):
        raise WebhookRefused("missing signature fields")
    if not (token.isascii() and timestamp.isascii() and signature.isascii()):
        raise WebhookRefused("malformed signature fields")
    if len(token) > MAX_TOKEN or len(signature) > 128 or not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRefused("malformed signature fields")
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    # Compared as bytes, in constant time: `compare_digest` on str raises TypeError on non-ASCII input.
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise WebhookRefused("wrong signature")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > max_age(channel):
        raise WebhookRefused("signature too old (or from the future)")
    return token


def base_address(address: str) -> str:
    """`Support+c12-abc@Example.com` → `support@example.com`: the address without its sub-address tag."""
    local, _at, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if local else address.strip().lower()


def verify_recipient(*, channel: Channel, recipient: str) -> None:
    """Every recipient of the call is one of the channel's own addresses (sub-addresses allowed)."""
    own = {base_address(address) for address in loops.own_addresses(channel)}
    own.add(base_address(threads.channel_address(channel)))
    found = [address for _name, address in getaddresses([recipient[:2000]]) if address]
    if not found or any(base_address(address) not in own for address in found):
        raise WebhookRefused("recipient is not this channel's address")


def use_token(*, channel: Channel, token: str, external_id: str) -> None:
    """Record the token as used for the message `external_id`, in the caller's transaction. The same call made
    again (a provider retry after a lost answer) passes; the token with any other message is refused."""
    prune_tokens(channel)
    try:
        with transaction.atomic():
            WebhookToken.objects.create(channel=channel, token=token, external_id=external_id[:200])
    except IntegrityError:
        if not WebhookToken.objects.filter(channel=channel, token=token, external_id=external_id[:200]).exists():
            raise WebhookRefused("token already used") from None


def prune_tokens(channel: Channel) -> None:
    cutoff = timezone.now() - timedelta(seconds=2 * max_age(channel))
    WebhookToken.objects.filter(channel=channel, used_at__lt=cutoff).delete()
