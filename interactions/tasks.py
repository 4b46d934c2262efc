"""Celery adapters: ids in, one service call, retries and backoff here."""

from celery import Task, shared_task

from interactions import inbound, outbound
from interactions.adapters import InvalidPayload
from interactions.models import Interaction


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def process_inbound_event_task(self: Task, event_id: int, channel_id: int | None = None) -> None:
    try:
        inbound.process_inbound_event(event_id=event_id, channel_id=channel_id)
    except InvalidPayload as error:
        inbound.record_inbound_failure(event_id=event_id, error=str(error), permanent=True)
    except Exception as error:
        # event_id 0 (a channel's debounced task naming no event) has no row to note the failure on.
        if not event_id or not inbound.record_inbound_failure(event_id=event_id, error=repr(error)):
            raise self.retry(exc=error, countdown=min(2**self.request.retries, 30)) from error


@shared_task(acks_late=True)
def sweep_inbound_events() -> dict[str, int]:
    result = inbound.sweep_inbound_events()
    return {"requeued": len(result.requeued), "dead_lettered": len(result.dead_lettered)}


DELIVERY_ATTEMPTS = 8


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=DELIVERY_ATTEMPTS)
def deliver_interaction_task(self: Task, interaction_id: int) -> None:
    try:
        outbound.deliver_interaction(interaction_id=interaction_id)
    except outbound.TransientDeliveryError as error:
        if self.request.retries >= DELIVERY_ATTEMPTS:
            interaction = Interaction.objects.get(pk=interaction_id)
            outbound.record_delivery_failure(interaction=interaction, error=str(error))
            return
        raise self.retry(exc=error, countdown=min(2 ** (self.request.retries + 1), 300)) from error
