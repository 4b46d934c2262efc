"""Celery adapters of the email channel: ids in, one service call."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from interactions.mail import imap
from interactions.models import Channel


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def poll_mailboxes() -> int:
    """Beat: enqueue a poll of every mailbox whose interval has elapsed."""
    due = imap.mailboxes_due()
    for channel in due:
        poll_mailbox_task.delay(channel.pk)
    return len(due)


# A poll stores chunk by chunk (each committed): a poll cut short by its time limit resumes where it stopped.
POLL_SOFT_TIME_LIMIT = int(getattr(settings, "OMNIDESK_EMAIL_POLL_SOFT_TIME_LIMIT", 240))
POLL_TIME_LIMIT = int(getattr(settings, "OMNIDESK_EMAIL_POLL_TIME_LIMIT", 300))


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=POLL_SOFT_TIME_LIMIT,
    time_limit=POLL_TIME_LIMIT,
)
def poll_mailbox_task(channel_id: int) -> None:
    channel = Channel.objects.get(pk=channel_id)
    try:
        imap.poll_mailbox(channel=channel)
    except SoftTimeLimitExceeded:
        imap.logger.warning("polling channel %s took too long; the next poll resumes after its last chunk", channel_id)
    except imap.MailboxError:
        # Noted on the mailbox state (admin); the next beat tick tries again.
        imap.logger.warning("polling channel %s failed", channel_id, exc_info=True)
