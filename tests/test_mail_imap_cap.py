"""IMAP size cap against a real Dovecot: a message over the channel's cap is never downloaded whole; it is stored as
a clear "too large" note with its own headers, and the mailbox keeps moving (the messages after it are read)."""

from __future__ import annotations

import pytest

from interactions import inbound
from interactions.mail import imap
from interactions.models import InboundEvent, Interaction
from routing.models import Queue
from tests import mail_support
from tests.mail_support import Dovecot

dovecot = mail_support.dovecot
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def sized_mail(n: int, *, body_bytes: int) -> bytes:
    return (
        (
            f"From: Customer {n} <customer{n}@example.com>\r\nTo: support@example.com\r\nSubject: Request {n}\r\n"
            f"Message-ID: <cap-{n}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        ).encode()
        + b"x" * body_bytes
        + b"\r\n"
    )


def test_it_stores_an_oversize_message_as_a_too_large_note_and_reads_on(dovecot: Dovecot, support_queue: Queue) -> None:
    channel = dovecot.channel(support_queue, max_message_bytes=100_000, imap_chunk=10)
    dovecot.append(sized_mail(1, body_bytes=100), sized_mail(2, body_bytes=300_000), sized_mail(3, body_bytes=100))

    result = imap.poll_mailbox(channel=channel)

    assert result is not None and (result.fetched, result.stored) == (3, 3)
    for event_id in InboundEvent.objects.filter(channel=channel).values_list("pk", flat=True):
        inbound.process_inbound_event(event_id=event_id)
    big = Interaction.objects.get(channel=channel, external_id="cap-2@example.com")
    assert "larger than the 100000 bytes this channel accepts" in big.text
    assert big.meta["subject"] == "Request 2" and big.meta["too_large"] == str(len(sized_mail(2, body_bytes=300_000)))
    assert len(InboundEvent.objects.get(external_id="cap-2@example.com").payload["raw"]) < 10_000
    assert Interaction.objects.filter(channel=channel).count() == 3
    assert dovecot.flagged_seen() == (3, 3), "the mailbox moved on: all three are marked stored"
