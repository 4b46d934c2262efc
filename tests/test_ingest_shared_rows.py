"""An ingest batch reads its channel and queue once and shares them (events and candidate cases), and prepares its
bulk rows' values without Django's per-field chain: the same values, the same rows, as before (issue 16, the drain)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer
from interactions import continuity, inbound, inbound_batch, inbound_bulk
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from routing.models import Queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def sms_channel(support_queue: Queue) -> Channel:
    return Channel.objects.create(kind=Channel.Kind.SMS, name="SMS", queue=support_queue, config={"a": 1})


def sms(channel: Channel, number: str, text: str) -> InboundEvent:
    sid = f"SM{uuid.uuid4().hex}"
    payload = {"MessageSid": sid, "From": number, "To": "+33100000000", "Body": text}
    return inbound.record_inbound_event(channel=channel, external_id=sid, payload=payload, provider="twilio")[0]


def fields_of(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_it_reads_a_batchs_pending_events_as_the_joined_queryset_did(sms_channel: Channel) -> None:
    events = [sms(sms_channel, f"+3361234{n:04d}", "Bonjour") for n in range(3)]
    InboundEvent.objects.filter(pk=events[1].pk).update(processed_at=timezone.now())
    ids = [event.pk for event in events]
    expected = list(
        InboundEvent.objects.select_related("channel__queue")
        .filter(pk__in=ids, processed_at__isnull=True, dead_lettered_at__isnull=True)
        .order_by("pk")
    )
    with transaction.atomic():
        got = inbound_batch.pending_events(event_ids=list(reversed(ids)))
    assert [fields_of(e) for e in got] == [fields_of(e) for e in expected]
    assert [fields_of(e.channel) for e in got] == [fields_of(e.channel) for e in expected]
    assert [fields_of(e.channel.queue) for e in got] == [fields_of(e.channel.queue) for e in expected]
    assert got[0].channel is got[1].channel, "one instance of the batch's channel"


def test_it_gives_candidate_cases_the_batchs_channel_and_reads_the_others(
    sms_channel: Channel, chat_channel: Channel, support_queue: Queue
) -> None:
    carla = Customer.objects.create(display_name="Carla")
    other_queue = Queue.objects.create(name="Billing")
    on_sms = Conversation.objects.create(customer=carla, channel=sms_channel, queue=support_queue)
    on_chat = Conversation.objects.create(customer=carla, channel=chat_channel, queue=other_queue)
    no_queue = Conversation.objects.create(customer=carla, channel=sms_channel)
    batch_channel = Channel.objects.select_related("queue").get(pk=sms_channel.pk)
    since = timezone.now() - timedelta(days=1)
    with (
        transaction.atomic(),
        continuity.cases_locked_for_batch(
            customer_ids={carla.pk}, channels=[batch_channel], now=timezone.now()
        ) as held,
    ):
        cases = {case.pk: case for case in held.by_customer[carla.pk]}
        joined = {
            case.pk: case
            for case in Conversation.objects.select_related("channel", "queue").filter(
                customer=carla, created_at__gte=since
            )
        }
        assert set(cases) == {on_sms.pk, on_chat.pk, no_queue.pk}
        for pk, case in cases.items():
            assert fields_of(case.channel) == fields_of(joined[pk].channel)
            assert (case.queue and fields_of(case.queue)) == (joined[pk].queue and fields_of(joined[pk].queue))
        assert cases[on_sms.pk].channel is batch_channel and cases[on_sms.pk].queue is batch_channel.queue
        assert cases[no_queue.pk].queue is None


def test_it_prepares_bulk_rows_as_get_db_prep_save_does(sms_channel: Channel, alice: Any) -> None:
    carla = Customer.objects.create(display_name="Carla")
    case = Conversation.objects.create(customer=carla, channel=sms_channel, assignee=alice)
    entries = [
        Interaction(
            conversation=case,
            customer=carla,
            channel=sms_channel,
            kind=Interaction.Kind.MESSAGE,  # a TextChoices member, not a plain str
            direction=Interaction.Direction.INBOUND,
            external_id="SM1",
            text="Bonjour é",
            meta={"continuity": "open_case", "n": [1, 2]},
        ),
        Interaction(
            conversation=case,
            customer=carla,
            channel=sms_channel,
            direction="out",
            author=alice,
            text="",
            status_at=timezone.now(),
        ),
    ]
    for entry in entries:
        for model_field in entry._meta.concrete_fields:
            model_field.pre_save(entry, True)
    with connection.cursor() as cursor:
        for instance, fields in (
            *((entry, list(Interaction._meta.concrete_fields)) for entry in entries),
            (case, list(Conversation._meta.concrete_fields)),
        ):
            kinds = [(f, inbound_bulk._kind_of(f)) for f in fields]
            fast = inbound_bulk._prepared_row(instance, kinds, connection)
            slow = [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields]
            assert [cursor.mogrify("%s", [value]) for value in fast] == [
                cursor.mogrify("%s", [value]) for value in slow
            ]
            assert any(kind for _f, kind in kinds), "some values take the short way"
    assert inbound_bulk._kind_of(Interaction._meta.get_field("meta")) == "", "JSON goes through Django"


def test_it_stores_a_new_case_as_the_orms_create_did(sms_channel: Channel, support_queue: Queue) -> None:
    carla = Customer.objects.create(display_name="Carla")
    now = timezone.now()
    made = inbound_bulk.create_now(
        Conversation(customer=carla, channel=sms_channel, last_message_at=now, queue=support_queue)
    )
    created = Conversation.objects.create(customer=carla, channel=sms_channel, last_message_at=now, queue=support_queue)
    moments = {"id", "created_at", "updated_at"}
    stored = Conversation.objects.get(pk=made.pk)
    assert {k: v for k, v in fields_of(stored).items() if k not in moments} == {
        k: v for k, v in fields_of(Conversation.objects.get(pk=created.pk)).items() if k not in moments
    }
    assert fields_of(stored) == fields_of(made), "the instance holds what was stored"
