"""One ingest batch holding a mail and the replies to it: each is processed once, in one pass (issue 16).

A batch marks its events processed when it ends. A reply processes its still-pending parents first (embedded mode,
or a retried event); it used to take a parent of its own batch, processed a moment earlier, for pending, process it a
second time, fail the whole batch on the interaction's unique (channel, external id) and have every event of the
batch redone one by one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interactions import inbound
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, InboundEvent, Interaction
from routing.models import Queue
from tests.mail_support import email_channel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def mail(n: int, *, replies_to: int | None = None) -> bytes:
    parent = f"In-Reply-To: <order-{replies_to}@example.com>\r\n" if replies_to is not None else ""
    return (
        f"From: Carla <carla@example.com>\r\nTo: support@example.com\r\nSubject: Order 1000\r\n"
        f"Date: Tue, 01 Dec 2026 10:0{n}:00 +0100\r\nMessage-ID: <order-{n}@example.com>\r\n{parent}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nMessage {n} about my order.\r\n"
    ).encode()


def stored(channel: Channel, raws: list[bytes]) -> list[int]:
    return [record_raw_mail(channel=channel, raw=raw, source="test")[0].pk for raw in raws]


def test_it_processes_a_thread_in_one_batch_once_when_replies_look_for_their_parents(
    support_queue: Queue, settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded mode: every reply looks for pending parents first
    channel = email_channel(support_queue)
    event_ids = stored(channel, [mail(1), mail(2, replies_to=1), mail(3, replies_to=2)])
    made = inbound.process_inbound_event(event_id=event_ids[0])

    assert made is not None and made.external_id == "order-1@example.com"
    entries = list(Interaction.objects.filter(channel=channel).order_by("pk"))
    # One pass: a batch that failed and was redone event by event rolled back interactions whose ids PostgreSQL's
    # sequence never gives back, so the three entries would not have consecutive ids.
    assert entries[-1].pk - entries[0].pk == len(entries) - 1, "one batch, not redone event by event"
    assert [entry.external_id for entry in entries] == [f"order-{n}@example.com" for n in (1, 2, 3)]
    assert len({entry.conversation_id for entry in entries}) == 1, "the replies thread into the first mail's case"
    assert [entry.meta.get("threaded_by") for entry in entries] == [None, "in-reply-to", "in-reply-to"]
    assert not InboundEvent.objects.filter(pk__in=event_ids, processed_at__isnull=True).exists()


def test_it_processes_a_reply_stored_before_its_parent_once_in_the_same_batch(
    support_queue: Queue, settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    channel = email_channel(support_queue)
    reply_id, parent_id = stored(channel, [mail(2, replies_to=1), mail(1)])

    made = inbound.process_claimed_events(event_ids=[reply_id, parent_id])

    assert sorted(made) == [reply_id, parent_id]
    parent, reply = made[parent_id], made[reply_id]
    assert parent is not None and reply is not None
    assert parent.conversation_id == reply.conversation_id
    assert Interaction.objects.filter(channel=channel).count() == 2
