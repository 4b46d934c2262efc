"""Celery adapters of the phone channel."""

from celery import shared_task

from interactions.phone import callbacks


@shared_task(acks_late=True)
def route_due_callbacks() -> int:
    return len(callbacks.route_due_callbacks())
