"""Periodic tasks of the email channel, merged into the beat schedule by omnidesk/celery.py."""

from django.conf import settings

BEAT = {
    "poll-mailboxes": {
        "task": "interactions.mail.tasks.poll_mailboxes",
        "schedule": float(settings.OMNIDESK_EMAIL_POLL_TICK),
    },
}
