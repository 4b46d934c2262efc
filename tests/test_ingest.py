"""Inbound events: stored first, processed once, retried by the sweeper, dead-lettered when hopeless."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.utils import timezone

from interactions import inbound, inbound_nudge, inbound_sweep, services
from interactions.adapters import InvalidPayload
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from interactions.tasks import process_inbound_event_task
from tests.conftest import PASSWORD
from tests.stack import free_port


def test_it_stores_a_resent_message_once(alice: Any, chat_channel: Channel) -> None:
    message_uuid = str(uuid.uuid4())
    first = inbound.record_widget_message(channel=chat_channel, visitor_id="v1", uuid=message_uuid, text="Bonjour")
    again = inbound.record_widget_message(channel=chat_channel, visitor_id="v1", uuid=message_uuid, text="Bonjour")
    assert first.pk == again.pk
    inbound.process_inbound_event(event_id=first.pk)
    inbound.process_inbound_event(event_id=first.pk)
    assert Interaction.objects.filter(external_id=message_uuid).count() == 1
    assert InboundEvent.objects.get(pk=first.pk).attempts == 1


def test_it_threads_a_visitors_messages_into_one_open_conversation(alice: Any, chat_channel: Channel) -> None:
    for text in ("Bonjour", "ma facture est fausse"):
        event = inbound.record_widget_message(channel=chat_channel, visitor_id="v2", uuid=str(uuid.uuid4()), text=text)
        inbound.process_inbound_event(event_id=event.pk)
    conversation = Conversation.objects.get()
    assert list(conversation.interactions.order_by("id").values_list("text", flat=True)) == [
        "Bonjour",
        "ma facture est fausse",
    ]
    assert conversation.customer.identities.get().address == "v2"


def test_it_opens_a_new_conversation_after_the_last_was_resolved(alice: Any, chat_channel: Channel) -> None:
    event = inbound.record_widget_message(channel=chat_channel, visitor_id="v3", uuid=str(uuid.uuid4()), text="A")
    first = inbound.process_inbound_event(event_id=event.pk)
    assert first is not None
    services.resolve_conversation(conversation=first.conversation, by=alice)
    event = inbound.record_widget_message(channel=chat_channel, visitor_id="v3", uuid=str(uuid.uuid4()), text="B")
    second = inbound.process_inbound_event(event_id=event.pk)
    assert second is not None
    assert second.conversation_id != first.conversation_id
    assert second.customer_id == first.customer_id


@pytest.mark.parametrize(
    ("text", "code"),
    [("", "empty_message"), ("   \n", "empty_message"), ("x" * 10_001, "message_too_long"), (None, "empty_message")],
)
def test_it_refuses_unusable_messages_without_storing_them(chat_channel: Channel, text: Any, code: str) -> None:
    with pytest.raises(ValidationError) as error:
        inbound.record_widget_message(channel=chat_channel, visitor_id="v", uuid=str(uuid.uuid4()), text=text)
    assert error.value.code == code
    assert not InboundEvent.objects.exists()


def test_it_accepts_a_message_of_exactly_the_maximum_length(alice: Any, chat_channel: Channel) -> None:
    event = inbound.record_widget_message(
        channel=chat_channel, visitor_id="v", uuid=str(uuid.uuid4()), text="x" * 10_000
    )
    interaction = inbound.process_inbound_event(event_id=event.pk)
    assert interaction is not None and len(interaction.text) == 10_000


def test_it_dead_letters_an_event_that_can_never_be_processed(chat_channel: Channel) -> None:
    event = InboundEvent.objects.create(channel=chat_channel, external_id="broken", payload={"text": 42})
    process_inbound_event_task.apply(args=(event.pk,))
    event.refresh_from_db()
    assert event.dead_lettered_at is not None
    assert "visitor" in event.last_error
    assert not Interaction.objects.exists()


def test_it_dead_letters_after_the_maximum_number_of_attempts(chat_channel: Channel) -> None:
    stale = timezone.now() - timedelta(minutes=5)
    event = InboundEvent.objects.create(channel=chat_channel, external_id="tired", payload={}, attempts=5)
    InboundEvent.objects.filter(pk=event.pk).update(received_at=stale, last_attempt_at=stale)
    result = inbound_sweep.sweep_inbound_events()
    assert result.dead_lettered == [event.pk]
    event.refresh_from_db()
    assert event.dead_lettered_at is not None


def test_it_shows_dead_lettered_events_to_admins(chat_channel: Channel, sophie: Any) -> None:
    InboundEvent.objects.create(
        channel=chat_channel, external_id="lost-cause", payload={}, dead_lettered_at=timezone.now(), last_error="boom"
    )
    InboundEvent.objects.create(channel=chat_channel, external_id="fine", payload={}, processed_at=timezone.now())
    client = Client()
    client.login(username="sophie", password=PASSWORD)
    page = client.get("/admin/interactions/inboundevent/?state=dead").content.decode()
    assert "lost-cause" in page
    assert "fine" not in page


def test_it_lets_an_admin_retry_a_dead_lettered_event(alice: Any, chat_channel: Channel) -> None:
    event = InboundEvent.objects.create(
        channel=chat_channel,
        external_id="again",
        payload={"visitor": "v9", "uuid": "again", "text": "Hello"},
        attempts=5,
        dead_lettered_at=timezone.now(),
    )
    inbound_sweep.retry_inbound_event(event_id=event.pk)
    inbound.process_inbound_event(event_id=event.pk)
    event.refresh_from_db()
    assert event.processed_at is not None
    assert Interaction.objects.get(external_id="again").text == "Hello"


def test_it_processes_events_waiting_behind_it_in_the_same_batch(alice: Any, chat_channel: Channel) -> None:
    events = [
        inbound.record_widget_message(channel=chat_channel, visitor_id=f"v{n}", uuid=str(uuid.uuid4()), text=f"T{n}")
        for n in range(3)
    ]
    interaction = inbound.process_inbound_event(event_id=events[0].pk)
    assert interaction is not None and interaction.text == "T0"
    assert sorted(Interaction.objects.values_list("text", flat=True)) == ["T0", "T1", "T2"]
    assert list(InboundEvent.objects.values_list("attempts", flat=True).distinct()) == [1]
    assert not InboundEvent.objects.filter(processed_at__isnull=True).exists()
    # Their own tasks come later and find nothing left to do.
    assert inbound.process_inbound_event(event_id=events[2].pk) is None
    assert InboundEvent.objects.get(pk=events[2].pk).attempts == 1


def test_it_keeps_one_bad_event_from_holding_back_its_batch(alice: Any, chat_channel: Channel) -> None:
    good = inbound.record_widget_message(channel=chat_channel, visitor_id="v1", uuid=str(uuid.uuid4()), text="Good")
    bad, _created = inbound.record_inbound_event(channel=chat_channel, external_id="bad", payload={"nope": 1})
    later = inbound.record_widget_message(channel=chat_channel, visitor_id="v2", uuid=str(uuid.uuid4()), text="Later")
    interaction = inbound.process_inbound_event(event_id=good.pk)
    assert interaction is not None and interaction.text == "Good"
    assert Interaction.objects.filter(external_id=later.external_id).exists()
    bad.refresh_from_db()
    assert bad.dead_lettered_at is not None and "visitor" in bad.last_error


def test_it_raises_for_its_own_bad_event_so_the_task_can_retry(chat_channel: Channel) -> None:
    bad, _created = inbound.record_inbound_event(channel=chat_channel, external_id="bad", payload={"nope": 1})
    with pytest.raises(InvalidPayload):
        inbound.process_inbound_event(event_id=bad.pk)


# --- the debounce: one task waits per channel, and no event is ever left without one ------------------------------


@pytest.fixture
def published(chat_channel: Channel, session_worker_paused: None) -> Iterator[list[tuple[int, int | None]]]:
    """The ingest tasks published to the broker, as (event id, channel id), read from Celery's own signal while the
    real publish happens; the channel's mark starts cleared. The session stack's worker is paused: it would take the
    published task at once, and the task clears the channel's mark before it claims, so a test's next event would
    publish again (a full-suite run failed that way once, after the stack tests had started the worker)."""
    calls: list[tuple[int, int | None]] = []

    def note(sender: Any = None, body: Any = None, **_: Any) -> None:
        if sender == process_inbound_event_task.name:
            args, kwargs = body[0], body[1]  # task message protocol 2: (args, kwargs, embed)
            calls.append((args[0], kwargs.get("channel_id")))

    inbound.clear_pending_mark(channel_id=chat_channel.pk)
    before_task_publish.connect(note, weak=False)
    try:
        yield calls
    finally:
        before_task_publish.disconnect(note)  # type: ignore[attr-defined]
        inbound.clear_pending_mark(channel_id=chat_channel.pk)


@pytest.fixture
def broker_down() -> Iterator[None]:
    """The broker refuses connections: Celery is pointed at a local port nothing listens on (a real refusal)."""
    app = process_inbound_event_task.app
    saved = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    app._pool = None  # type: ignore[attr-defined]  # the producer pool holds connections to the working broker: a new one for the refusing one
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if app._pool is not None:  # type: ignore[attr-defined]
            app._pool.force_close_all()  # type: ignore[attr-defined]
        app.conf.broker_url = saved
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]


def store(channel: Channel, capture: Any) -> InboundEvent:
    with capture(execute=True):
        return inbound.record_widget_message(channel=channel, visitor_id="vd", uuid=str(uuid.uuid4()), text="Allô")


def test_a_burst_publishes_one_task_per_channel_until_the_task_starts(
    alice: Any, chat_channel: Channel, published: list[tuple[int, int | None]], django_capture_on_commit_callbacks: Any
) -> None:
    first = store(chat_channel, django_capture_on_commit_callbacks)
    second = store(chat_channel, django_capture_on_commit_callbacks)
    assert published == [(first.pk, chat_channel.pk)]  # the second one's task would have nothing to do
    inbound.process_inbound_event(event_id=first.pk, channel_id=chat_channel.pk)
    # The task cleared the mark before it claimed: it took the second event too, and the next one publishes again.
    assert InboundEvent.objects.filter(pk__in=[first.pk, second.pk], processed_at__isnull=True).count() == 0
    third = store(chat_channel, django_capture_on_commit_callbacks)
    assert published[-1] == (third.pk, chat_channel.pk)


def test_a_task_that_fills_its_batch_makes_sure_another_follows(
    alice: Any,
    chat_channel: Channel,
    published: list[tuple[int, int | None]],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.OMNIDESK_INGEST_BATCH_SIZE = 2
    events = [store(chat_channel, django_capture_on_commit_callbacks) for _ in range(3)]
    assert published == [(events[0].pk, chat_channel.pk)]
    inbound.process_inbound_event(event_id=events[0].pk, channel_id=chat_channel.pk)
    assert published[-1] == (0, chat_channel.pk)  # a task naming no event: it claims whatever is left
    assert InboundEvent.objects.get(pk=events[2].pk).processed_at is None
    inbound.process_inbound_event(event_id=0, channel_id=chat_channel.pk)
    assert not InboundEvent.objects.filter(processed_at__isnull=True).exists()


def test_a_refused_publish_clears_the_mark_so_the_next_event_publishes(
    alice: Any,
    chat_channel: Channel,
    published: list[tuple[int, int | None]],
    broker_down: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = store(chat_channel, django_capture_on_commit_callbacks)
    assert inbound_nudge.mark_store().get(inbound_nudge.pending_mark(chat_channel.pk)) is None, (
        "cleared after the refusal"
    )
    second = store(chat_channel, django_capture_on_commit_callbacks)
    assert published == [(first.pk, chat_channel.pk), (second.pk, chat_channel.pk)]
    inbound.clear_pending_mark(channel_id=chat_channel.pk)


def test_a_block_that_stores_several_events_of_a_channel_in_one_transaction_nudges_it_once(
    alice: Any, chat_channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    """A mail archive's chunk or a poll commits many events at once: the one task its nudge publishes claims them
    all, so each further nudge (in the embedded mode, a whole task run in-process) would find nothing to do."""
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        transaction.atomic(),
        inbound.one_nudge_per_channel(),
    ):
        events = [
            inbound.record_widget_message(channel=chat_channel, visitor_id="vn", uuid=str(uuid.uuid4()), text=f"{n}")
            for n in range(3)
        ]
    assert len(callbacks) == 1
    callbacks[0]()
    inbound.process_inbound_event(event_id=events[0].pk, channel_id=chat_channel.pk)
    assert not InboundEvent.objects.filter(pk__in=[event.pk for event in events], processed_at__isnull=True).exists()
