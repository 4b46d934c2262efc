"""On the real stack (uvicorn, Celery worker, PostgreSQL, Redis): hostile mail never holds back a chat message.

A mailbox archive of four 2 MB poison mails (the shapes that made the old `html_to_text` quadratic, and the ones
that slow an HTML5 parser down) is stored with `manage.py ingest_email`; a visitor writes in the chat right after.
The chat message must be stored as an interaction within 2 s, and the poison mails must still each become one
interaction (nothing lost, nothing dead-lettered).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from interactions.models import Channel, InboundEvent, Interaction
from routing.models import Queue
from tests.clients import open_widget, send_widget_message
from tests.mail_support import email_channel
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
ORIGIN = "http://shop.example"
POISON_UNITS = ["<script", "<", "<div><b><i>", "a&"]
POISON_BYTES = 2 * 1024 * 1024


def poison_mail(index: int, unit: str) -> bytes:
    body = (unit * (POISON_BYTES // len(unit))).encode()
    return (
        f"From: Mallory <mallory{index}@example.net>\r\nTo: support@example.com\r\nSubject: poison {index}\r\n"
        f"Message-ID: <poison-{index}@example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
    ).encode() + body


async def test_it_serves_a_chat_message_within_2_seconds_of_a_poison_mail_flood(
    stack: Stack, alice: Any, support_queue: Queue, chat_channel: Channel, tmp_path: Path
) -> None:
    from asgiref.sync import sync_to_async

    mailbox = await sync_to_async(email_channel)(support_queue)
    archive = tmp_path / "poison"
    archive.mkdir()
    for index, unit in enumerate(POISON_UNITS):
        (archive / f"{index}.eml").write_bytes(poison_mail(index, unit))
    widget, welcome = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
    assert welcome["type"] == "welcome"

    await sync_to_async(call_command)("ingest_email", str(mailbox.pk), str(archive))
    sent_at = time.monotonic()
    message_uuid = await send_widget_message(widget, "Bonjour, ma commande ?")

    def chat_stored() -> bool:
        return Interaction.objects.filter(channel=chat_channel, external_id=message_uuid).exists()

    await sync_to_async(wait_until)(chat_stored, timeout=10, interval=0.02, message="the chat message")
    delay = time.monotonic() - sent_at
    assert delay < 2.0, f"the chat message waited {delay:.2f}s behind the poison mail"
    await widget.close()

    def all_mail_stored() -> bool:
        return Interaction.objects.filter(channel=mailbox).count() == len(POISON_UNITS)

    await sync_to_async(wait_until)(all_mail_stored, timeout=60, message="every poison mail to be stored")
    events = InboundEvent.objects.filter(channel=mailbox)
    assert await events.filter(dead_lettered_at__isnull=True, processed_at__isnull=False).acount() == 4
