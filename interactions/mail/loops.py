"""Mail loop prevention (RFC 3834): never answer automatically to automatic mail, nor too often to anyone."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from interactions.mail.models import Acknowledgement
from interactions.mail.parsing import ParsedMail
from interactions.models import Channel

AUTOMATIC_SENDERS = ("mailer-daemon@", "postmaster@", "noreply@", "no-reply@", "donotreply@")


def own_addresses(channel: Channel) -> set[str]:
    addresses = [channel.config.get("address", ""), *channel.config.get("addresses", [])]
    return {str(address).lower() for address in addresses if address}


def automatic_reason(parsed: ParsedMail, channel: Channel) -> str:
    """Why this mail must get no automatic answer ("" when it may): the RFC 3834 signals and our own addresses."""
    auto_submitted = parsed.header("auto-submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    precedence = parsed.header("precedence").strip().lower()
    if precedence in {"bulk", "junk", "list"}:
        return f"Precedence: {precedence}"
    if parsed.header("x-loop"):
        return "X-Loop"
    for name in ("list-id", "list-unsubscribe", "list-post"):
        if parsed.header(name):
            return name.title()
    if parsed.header("x-autoreply") or parsed.header("x-autorespond"):
        return "X-Autoreply"
    if parsed.header("return-path").replace(" ", "") == "<>":
        return "empty Return-Path"
    if parsed.is_bounce:
        return "delivery report"
    sender = parsed.from_address.lower()
    if sender in own_addresses(channel):
        return "from our own address"
    if not sender or sender.startswith(AUTOMATIC_SENDERS):
        return "automatic sender"
    return ""


def acknowledgement_allowed(*, channel: Channel, address: str) -> bool:
    """At most OMNIDESK_EMAIL_ACK_LIMIT acknowledgements per sender per OMNIDESK_EMAIL_ACK_WINDOW seconds."""
    window = int(channel.config.get("acknowledgement_window", settings.OMNIDESK_EMAIL_ACK_WINDOW))
    limit = int(channel.config.get("acknowledgement_limit", settings.OMNIDESK_EMAIL_ACK_LIMIT))
    since = timezone.now() - timedelta(seconds=window)
    recent = Acknowledgement.objects.filter(channel=channel, address=address.lower(), sent_at__gte=since)
    return recent.count() < limit
