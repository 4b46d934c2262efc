"""Ingest lanes: a batch claims the events of one channel only, so a chat message never waits behind a mailbox's
batch; mail tasks can go to their own Celery queue; every ingest task has a time limit."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from interactions import inbound, inbound_claims, lanes
from interactions.mail.services import record_raw_mail
from interactions.mail.tasks import poll_mailbox_task
from interactions.models import Channel, InboundEvent, Interaction
from interactions.tasks import deliver_interaction_task, process_inbound_event_task
from routing.models import Queue
from tests.mail_support import email_channel
from tests.mail_trust_support import mail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_it_claims_a_batch_of_one_channel_only(alice: Any, chat_channel: Channel, support_queue: Queue) -> None:
    mailbox = email_channel(support_queue)
    mails = [record_raw_mail(channel=mailbox, raw=mail(message_id=f"lane-{n}@x"), source="t")[0] for n in range(3)]
    chat = inbound.record_widget_message(channel=chat_channel, visitor_id="v", uuid=str(uuid.uuid4()), text="Hi")

    claimed = inbound_claims.claim_inbound_events(event_id=mails[0].pk)

    assert claimed == [event.pk for event in mails], "the chat message is not in the mailbox's batch"
    assert InboundEvent.objects.get(pk=chat.pk).attempts == 0
    assert inbound.process_inbound_event(event_id=chat.pk) is not None
    assert Interaction.objects.filter(channel=chat_channel).count() == 1


def test_it_claims_only_the_channels_events_for_a_debounced_task(chat_channel: Channel, support_queue: Queue) -> None:
    mailbox = email_channel(support_queue)
    record_raw_mail(channel=mailbox, raw=mail(message_id="lane-x@x"), source="t")
    chat = inbound.record_widget_message(channel=chat_channel, visitor_id="v", uuid=str(uuid.uuid4()), text="Hi")

    assert inbound_claims.claim_inbound_events(event_id=0, channel_id=chat_channel.pk) == [chat.pk]


def test_it_sends_mail_tasks_to_the_mail_queue_when_one_is_set(
    settings: Any, chat_channel: Channel, support_queue: Queue
) -> None:
    settings.OMNIDESK_MAIL_QUEUE = "omnidesk-test-mail-lane"
    broker = redis.Redis.from_url(django_settings.REDIS_URL)
    broker.delete(settings.OMNIDESK_MAIL_QUEUE)
    mailbox = email_channel(support_queue)
    event, _created = record_raw_mail(channel=mailbox, raw=mail(message_id="lane-q@x"), source="t")
    try:
        assert lanes.queue_for(kind=lanes.kind_of(channel_id=None, event_id=event.pk)) == "omnidesk-test-mail-lane"
        assert lanes.queue_for(kind=lanes.kind_of(channel_id=chat_channel.pk)) == ""
        assert inbound.enqueue_inbound_event(event_id=event.pk)
        queued = [json.loads(item) for item in broker.lrange(settings.OMNIDESK_MAIL_QUEUE, 0, -1)]
        assert [item["headers"]["task"] for item in queued] == ["interactions.tasks.process_inbound_event_task"]
    finally:
        broker.delete(settings.OMNIDESK_MAIL_QUEUE)


def test_it_gives_every_ingest_and_mail_task_a_time_limit() -> None:
    for task in (process_inbound_event_task, deliver_interaction_task, poll_mailbox_task):
        assert task.soft_time_limit and task.time_limit and task.soft_time_limit < task.time_limit
    assert (process_inbound_event_task.time_limit or 0) <= 120
