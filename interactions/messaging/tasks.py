"""Celery adapters of the messaging app."""

from datetime import timedelta

from celery import Task, shared_task

from interactions.messaging import media, services
from interactions.models import Attachment
from interactions.outbound import TransientDeliveryError

MEDIA_ATTEMPTS = 4


@shared_task(bind=True, acks_late=True, max_retries=MEDIA_ATTEMPTS)
def fetch_attachment_task(self: Task, attachment_id: int) -> None:
    try:
        media.fetch_attachment(attachment_id=attachment_id)
    except TransientDeliveryError as error:
        if self.request.retries >= MEDIA_ATTEMPTS:
            media.record_omission(attachment=Attachment.objects.get(pk=attachment_id), reason=f"Not fetched: {error}")
            return
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 1)) from error


@shared_task(acks_late=True)
def prune_pending_receipts() -> int:
    """Receipts whose message never showed up (sent from outside omnidesk) are dropped after a week."""
    return services.prune_pending_receipts(older_than=timedelta(days=7))
