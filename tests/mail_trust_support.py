"""Building inbound mail for the trust tests and the mail abuse suite, and ingesting it as the worker does."""

from __future__ import annotations

from interactions import inbound
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, Interaction

PASS = "mx.example.com; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com; dmarc=pass"
DMARC_FAIL = "mx.example.com; spf=fail smtp.mailfrom=example.com; dkim=none; dmarc=fail (p=reject)"


def mail(
    *,
    sender: str = "Carla Dupont <carla@example.com>",
    to: str = "support@example.com",
    subject: str = "Hello",
    message_id: str = "m-1@example.com",
    body: str = "Hello support.",
    authentication: str | None = PASS,
    extra: str = "",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    """One RFC 822 message; `extra` is raw header lines (each ending in CRLF)."""
    headers = ""
    if authentication is not None:
        headers += f"Authentication-Results: {authentication}\r\n"
    headers += f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{extra}"
    headers += f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
    return headers.encode("utf-8") + body.encode("utf-8")


def ingest(channel: Channel, raw: bytes) -> Interaction | None:
    """Store the raw message and process it as the worker does."""
    event, _created = record_raw_mail(channel=channel, raw=raw, source="test")
    return inbound.process_inbound_event(event_id=event.pk)
