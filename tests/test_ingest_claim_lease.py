"""Claims carry a short lease (issue 16, item 6): the events of a batch whose worker died between its claim and its
commit are taken back by the next claim of their channel once the lease expires, or at once by a retaking claim (the
dead worker's redelivered task, a worker starting after one died) — not 30 s later by the sweeper."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from interactions import inbound, inbound_claims
from interactions.models import Channel, InboundEvent, Interaction

pytestmark = pytest.mark.django_db


def stored(channel: Channel, text: str) -> InboundEvent:
    return inbound.record_widget_message(channel=channel, visitor_id=f"vl-{text}", uuid=str(uuid.uuid4()), text=text)


def claimed_by_a_dead_worker(event: InboundEvent, *, seconds_ago: float, error: str = "") -> None:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    InboundEvent.objects.filter(pk=event.pk).update(attempts=1, last_attempt_at=at, last_error=error)


def test_it_takes_back_a_claim_whose_lease_expired_with_the_next_event_of_its_channel(
    alice: Any, chat_channel: Channel
) -> None:
    stranded = stored(chat_channel, "Stranded")
    claimed_by_a_dead_worker(stranded, seconds_ago=inbound_claims.claim_lease() + 1)
    later = stored(chat_channel, "Later")

    inbound.process_inbound_event(event_id=later.pk)

    stranded.refresh_from_db()
    assert stranded.processed_at is not None and stranded.attempts == 2
    assert Interaction.objects.filter(external_id=stranded.external_id).count() == 1


def test_it_leaves_a_fresh_claim_to_its_worker_unless_told_to_take_it_back(alice: Any, chat_channel: Channel) -> None:
    fresh = stored(chat_channel, "Fresh")
    claimed_by_a_dead_worker(fresh, seconds_ago=0.1)
    later = stored(chat_channel, "Later")

    assert inbound_claims.claim_inbound_events(event_id=later.pk) == [later.pk]
    assert inbound_claims.claim_inbound_events(event_id=0, channel_id=chat_channel.pk, retake=True) == sorted(
        [fresh.pk, later.pk]
    )


def test_it_leaves_a_failed_event_to_its_own_retry(alice: Any, chat_channel: Channel) -> None:
    failed = stored(chat_channel, "Failed")
    claimed_by_a_dead_worker(failed, seconds_ago=60, error="RuntimeError('boom')")
    later = stored(chat_channel, "Later")

    assert inbound_claims.claim_inbound_events(event_id=later.pk, retake=True) == [later.pk]
    # Its own task (retry with backoff, or the sweeper's) still takes it.
    assert inbound_claims.claim_inbound_events(event_id=failed.pk) == [failed.pk]
