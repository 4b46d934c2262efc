"""Celery adapters: ids in, one service call, retries and backoff here."""

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings

from interactions import inbound, inbound_sweep, outbound, services
from interactions.adapters import InvalidPayload
from interactions.models import Interaction
from routing.schedule import WAKE_SNOOZED_TASK

logger = logging.getLogger(__name__)

# Time limits (seconds): a batch of inbound events is milliseconds of work; one that runs for a minute is stuck on a
# pathological input, and must give its worker back to the other channels. The soft limit raises inside the task
# (its transaction rolls back and the failure is counted, see record_inbound_failure); the hard one kills it.
INGEST_SOFT_TIME_LIMIT = int(getattr(settings, "OMNIDESK_INGEST_SOFT_TIME_LIMIT", 60))
INGEST_TIME_LIMIT = int(getattr(settings, "OMNIDESK_INGEST_TIME_LIMIT", 90))
DELIVERY_SOFT_TIME_LIMIT = int(getattr(settings, "OMNIDESK_DELIVERY_SOFT_TIME_LIMIT", 120))
DELIVERY_TIME_LIMIT = int(getattr(settings, "OMNIDESK_DELIVERY_TIME_LIMIT", 150))


@shared_task(
    name=inbound.PROCESS_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=INGEST_SOFT_TIME_LIMIT,
    time_limit=INGEST_TIME_LIMIT,
)
def process_inbound_event_task(self: Task, event_id: int, channel_id: int | None = None, retake: bool = False) -> None:
    # Redelivered: the worker process that ran this task died (SIGKILL, OOM) between its claim and its commit, and
    # reject_on_worker_lost put it back. Its whole claimed batch is taken back now, not after the claim lease.
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    try:
        inbound.process_inbound_event(
            event_id=event_id,
            channel_id=channel_id,
            retake=retake or redelivered,
            kind=getattr(self.request, inbound.KIND_HEADER, None),
        )
    except InvalidPayload as error:
        inbound.record_inbound_failure(event_id=event_id, error=str(error), permanent=True)
    except Exception as error:
        # event_id 0 (a channel's debounced task naming no event) has no row to note the failure on.
        if not event_id or not inbound.record_inbound_failure(event_id=event_id, error=repr(error)):
            raise self.retry(exc=error, countdown=min(2**self.request.retries, 30)) from error


@shared_task(acks_late=True, soft_time_limit=INGEST_SOFT_TIME_LIMIT, time_limit=INGEST_TIME_LIMIT)
def sweep_inbound_events() -> dict[str, int]:
    result = inbound_sweep.sweep_inbound_events()
    return {"requeued": len(result.requeued), "dead_lettered": len(result.dead_lettered)}


@worker_ready.connect
def recover_inbound_claims(**_kwargs: Any) -> None:
    """A worker that starts may replace one killed outright: take its claimed events back now (see recover_claims)."""
    try:
        channels = inbound_sweep.recover_claims()
    except Exception:
        logger.exception("could not recover the claims of a previous worker; the sweeper will")
        return
    if channels:
        logger.info("recovering inbound events of channels %s", channels)


DELIVERY_ATTEMPTS = 8


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=DELIVERY_ATTEMPTS,
    soft_time_limit=DELIVERY_SOFT_TIME_LIMIT,
    time_limit=DELIVERY_TIME_LIMIT,
)
def deliver_interaction_task(self: Task, interaction_id: int) -> None:
    try:
        outbound.deliver_interaction(interaction_id=interaction_id)
    except outbound.TransientDeliveryError as error:
        if self.request.retries >= DELIVERY_ATTEMPTS:
            interaction = Interaction.objects.get(pk=interaction_id)
            outbound.record_delivery_failure(interaction=interaction, error=str(error))
            return
        raise self.retry(exc=error, countdown=min(2 ** (self.request.retries + 1), 300)) from error


@shared_task(name=WAKE_SNOOZED_TASK, acks_late=True)
def wake_snoozed_task() -> int:
    return len(services.wake_snoozed_conversations())
