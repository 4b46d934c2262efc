"""IMAP polling against a real Dovecot on loopback: nothing read twice, nothing lost, flagged only once stored."""

from __future__ import annotations

import json
import threading

import psycopg2
import pytest
from django.conf import settings
from django.utils import timezone

from interactions import inbound
from interactions.mail import imap
from interactions.mail.models import MailboxState
from interactions.mail.tasks import poll_mailbox_task
from interactions.models import Channel, InboundEvent, Interaction
from routing.models import Queue
from tests import mail_support
from tests.mail_support import Dovecot, email_channel, fixture_bytes
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.usefixtures("media_root")


dovecot = mail_support.dovecot


def plain_mail(n: int) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.com>\r\nTo: support@example.com\r\nSubject: Request {n}\r\n"
        f"Message-ID: <imap-{n}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, this is request number {n}.\r\n"
    ).encode()


def process_pending(channel: Channel) -> None:
    for event_id in InboundEvent.objects.filter(channel=channel, processed_at__isnull=True).values_list(
        "pk", flat=True
    ):
        inbound.process_inbound_event(event_id=event_id)


@pytest.mark.django_db
def test_it_stores_each_message_once_however_often_the_mailbox_is_polled(
    dovecot: Dovecot, support_queue: Queue
) -> None:
    channel = dovecot.channel(support_queue, imap_chunk=2)
    names = ["new_request.eml", "iso_8859_1.eml", "shift_jis.eml", "html_only.eml", "winmail_dat.eml"]
    dovecot.append(*(fixture_bytes(name) for name in names))

    first = imap.poll_mailbox(channel=channel)
    second = imap.poll_mailbox(channel=channel)

    assert first is not None and (first.fetched, first.stored) == (5, 5)
    assert second is not None and (second.fetched, second.stored) == (0, 0)
    assert dovecot.flagged_seen() == (5, 5)
    process_pending(channel)
    assert Interaction.objects.filter(channel=channel).count() == 5
    assert set(Interaction.objects.values_list("meta__subject", flat=True)) >= {"Commande non reçue", "注文について"}

    dovecot.append(plain_mail(1))
    third = imap.poll_mailbox(channel=channel)
    assert third is not None and (third.fetched, third.stored) == (1, 1)
    assert MailboxState.objects.get(channel=channel).last_uid == 6


@pytest.mark.django_db
def test_it_reads_everything_again_after_a_uidvalidity_change_but_stores_nothing_twice(
    dovecot: Dovecot, support_queue: Queue
) -> None:
    channel = dovecot.channel(support_queue)
    dovecot.append(plain_mail(1), plain_mail(2))
    imap.poll_mailbox(channel=channel)
    MailboxState.objects.filter(channel=channel).update(uidvalidity=1, last_uid=99)

    again = imap.poll_mailbox(channel=channel)

    assert again is not None and (again.fetched, again.stored) == (2, 0)
    assert InboundEvent.objects.filter(channel=channel).count() == 2


@pytest.mark.django_db
def test_it_notes_a_failed_login_on_the_mailbox(dovecot: Dovecot, support_queue: Queue) -> None:
    channel = dovecot.channel(support_queue)
    channel.secrets = {"imap_password": "wrong"}
    channel.save()

    with pytest.raises(imap.MailboxError):
        imap.poll_mailbox(channel=channel)
    assert "could not log in" in MailboxState.objects.get(channel=channel).last_error


@pytest.mark.django_db
def test_it_polls_only_the_mailboxes_whose_interval_has_elapsed(dovecot: Dovecot, support_queue: Queue) -> None:
    due = dovecot.channel(support_queue, poll_interval=60)
    recent = dovecot.channel(support_queue, poll_interval=60)
    MailboxState.objects.create(channel=recent, last_polled_at=timezone.now())
    email_channel(support_queue)  # no IMAP: webhook only

    assert imap.mailboxes_due() == [due]


def blocked_backends(database: str) -> int:
    with psycopg2.connect(dbname=database, host="127.0.0.1", user="postgres") as probe, probe.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [database]
        )
        return int(cursor.fetchone()[0])


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_it_loses_nothing_when_the_worker_is_killed_during_a_poll(
    stack: Stack, dovecot: Dovecot, support_queue: Queue
) -> None:
    channel = dovecot.channel(support_queue, imap_chunk=5, poll_interval=3600)
    MailboxState.objects.create(channel=channel, last_polled_at=timezone.now())  # beat leaves it to this test
    database = str(settings.DATABASES["default"]["NAME"])
    # Another transaction holds the event row of message 13 (third chunk) uncommitted: the poll blocks on it.
    holder = psycopg2.connect(dbname=database, host="127.0.0.1", user="postgres")
    holder.autocommit = False
    with holder.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboundEvent._meta.db_table} (channel_id, provider, external_id, payload, received_at,"
            " attempts, last_error) VALUES (%s, 'email', 'imap-13@example.com', %s, now(), 0, '')",
            [channel.pk, json.dumps({"raw": ""})],
        )
    dovecot.append(*(plain_mail(n) for n in range(1, 31)))

    poll_mailbox_task.delay(channel.pk)
    try:
        wait_until(lambda: blocked_backends(database) >= 1, timeout=20, message="the poll to block on message 13")
        assert dovecot.flagged_seen() == (30, 10), "only the two committed chunks are flagged"
        stack.kill_worker()
    finally:
        threading.Timer(0.5, holder.rollback).start()

    stack.start_worker()
    poll_mailbox_task.delay(channel.pk)
    wait_until(
        lambda: Interaction.objects.filter(channel=channel).count() == 30,
        timeout=60,
        message="every message to become an interaction",
    )
    holder.close()
    subjects = sorted(Interaction.objects.filter(channel=channel).values_list("meta__subject", flat=True))
    assert subjects == sorted(f"Request {n}" for n in range(1, 31))
    assert InboundEvent.objects.filter(channel=channel).count() == 30
    wait_until(lambda: dovecot.flagged_seen() == (30, 30), timeout=10, message="every message to be flagged")
    assert MailboxState.objects.get(channel=channel).last_uid == 30
