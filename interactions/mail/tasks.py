"""Celery adapters of the email channel: ids in, one service call."""

from __future__ import annotations

from celery import shared_task

from interactions.mail import imap
from interactions.models import Channel


@shared_task(acks_late=True, ignore_result=True)
def poll_mailboxes() -> int:
    """Beat: enqueue a poll of every mailbox whose interval has elapsed."""
    due = imap.mailboxes_due()
    for channel in due:
        poll_mailbox_task.delay(channel.pk)
    return len(due)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def poll_mailbox_task(channel_id: int) -> None:
    channel = Channel.objects.get(pk=channel_id)
    try:
        imap.poll_mailbox(channel=channel)
    except imap.MailboxError:
        # Noted on the mailbox state (admin); the next beat tick tries again.
        imap.logger.warning("polling channel %s failed", channel_id, exc_info=True)
