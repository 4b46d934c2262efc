"""A poison message in an ingest batch fails alone (issue 16, item 2): each event runs in a savepoint, so the good
events of its batch commit in the one transaction, and the poison one is recorded as failed with why, its partial
writes and its announcements rolled back. It used to fail the whole batch, which was then redone event by event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from customers.services import lock_customer_by_identity
from interactions import inbound
from interactions.models import Channel, InboundEvent, Interaction
from interactions.services import receive_message
from omnidesk import realtime
from omnidesk.models import Event, EventAudience

pytestmark = pytest.mark.django_db


def widget_event(channel: Channel, n: int) -> InboundEvent:
    return inbound.record_widget_message(channel=channel, visitor_id=f"vp{n}", uuid=str(uuid.uuid4()), text=f"G{n}")


def poison_event(channel: Channel) -> InboundEvent:
    """Readable, but its message id is longer than the timeline's column: it fails in PostgreSQL after its customer
    and identity were written, which aborts the transaction unless a savepoint takes it back."""
    payload = {"visitor": "vp-poison", "uuid": "p" * 300, "text": "Poison"}
    return inbound.record_inbound_event(channel=channel, external_id="poison-1", payload=payload)[0]


def test_it_commits_the_good_events_of_a_batch_in_one_pass_and_records_the_poison_one(
    alice: Any, chat_channel: Channel
) -> None:
    first = widget_event(chat_channel, 1)
    poison = poison_event(chat_channel)
    rest = [widget_event(chat_channel, n) for n in (2, 3)]

    made = inbound.process_inbound_event(event_id=first.pk)

    assert made is not None and made.text == "G1"
    entries = list(Interaction.objects.filter(channel=chat_channel).order_by("pk"))
    assert [entry.text for entry in entries] == ["G1", "G2", "G3"]
    # One pass: a batch redone event by event would have burnt sequence values on rolled-back inserts.
    assert entries[-1].pk - entries[0].pk == len(entries) - 1
    good_ids = [first.pk, *(event.pk for event in rest)]
    assert set(InboundEvent.objects.filter(pk__in=good_ids).values_list("attempts", flat=True)) == {1}
    assert not InboundEvent.objects.filter(pk__in=good_ids, processed_at__isnull=True).exists()

    poison.refresh_from_db()
    assert poison.processed_at is None and poison.dead_lettered_at is None, "retried alone, not lost"
    assert poison.attempts == 1
    assert "DataError" in poison.last_error and "too long" in poison.last_error
    assert not Customer.objects.filter(display_name="Visitor vp-poi").exists(), "its partial writes rolled back"


def test_it_raises_for_its_own_poison_event_after_committing_the_rest(alice: Any, chat_channel: Channel) -> None:
    poison = poison_event(chat_channel)
    good = widget_event(chat_channel, 1)
    with pytest.raises(Exception, match="too long"):
        inbound.process_inbound_event(event_id=poison.pk)
    assert InboundEvent.objects.get(pk=good.pk).processed_at is not None
    assert Interaction.objects.filter(external_id=good.external_id).exists()


def test_it_dead_letters_the_poison_event_once_its_attempts_are_spent(alice: Any, chat_channel: Channel) -> None:
    poison = poison_event(chat_channel)
    # Four workers died under it already (no error noted, the claim lease long expired): the next claim takes it back.
    InboundEvent.objects.filter(pk=poison.pk).update(attempts=4, last_attempt_at=timezone.now() - timedelta(minutes=1))
    good = widget_event(chat_channel, 1)
    inbound.process_inbound_event(event_id=good.pk)
    poison.refresh_from_db()
    assert poison.dead_lettered_at is not None and "too long" in poison.last_error


# --- the announcements of a rolled-back event: taken out of the batch's buffer ---------------------------------------

POISON_KEY = "test-poison-after-announcing"


@pytest.fixture
def announcing_poison() -> Iterator[str]:
    """A processor, registered like a channel app's, that writes an interaction and announces it, then fails."""

    def process(event: InboundEvent) -> Interaction | None:
        customer = lock_customer_by_identity(kind="widget", address="vp-half", display_name="Visitor half")
        receive_message(customer=customer, channel=event.channel, external_id=event.external_id, text="half-done")
        raise RuntimeError("failed after announcing")

    inbound.register_processor(POISON_KEY, process)
    yield POISON_KEY
    inbound.PROCESSORS.pop(POISON_KEY, None)


def test_it_sends_nothing_for_a_poison_event_that_had_announced_before_failing(
    alice: Any, chat_channel: Channel, announcing_poison: str, django_capture_on_commit_callbacks: Any
) -> None:
    good = widget_event(chat_channel, 1)
    poison = inbound.record_inbound_event(
        channel=chat_channel, external_id="half", payload={}, provider=announcing_poison
    )[0]
    with django_capture_on_commit_callbacks(execute=False):
        inbound.process_inbound_event(event_id=good.pk)

    frames = [json.dumps(event.data) for event in Event.objects.all()]
    assert any("G1" in frame for frame in frames), "the good event's announcements went out"
    assert not any("half-done" in frame for frame in frames), "the rolled-back event's did not"
    assert not Interaction.objects.filter(external_id="half").exists()
    poison.refresh_from_db()
    assert "failed after announcing" in poison.last_error and poison.processed_at is None


def test_a_realtime_savepoint_drops_only_what_was_announced_inside_it(db: None) -> None:
    with transaction.atomic(), realtime.batched():
        realtime.publish_on_commit(type="test.kept", data={}, groups=["supervisors"])
        with pytest.raises(RuntimeError), realtime.savepoint():
            realtime.publish_on_commit(type="test.dropped", data={}, groups=["supervisors"])
            raise RuntimeError("roll me back")
        with realtime.savepoint():
            realtime.publish_on_commit(type="test.kept_too", data={}, groups=["supervisors"])
    # Only this test's events: a live stack of an earlier test may have committed others (queue stats) meanwhile.
    ours = Event.objects.filter(type__startswith="test.")
    assert sorted(ours.values_list("type", flat=True)) == ["test.kept", "test.kept_too"]
    assert EventAudience.objects.filter(event__in=ours).count() == 2
