"""Ingest's hot queries compiled once (omnidesk/compiled_queries.py) answer exactly as their querysets do, and a
continuing chat message in a batch of one no longer compiles them; its writes as SQL text store what the ORM's
`save()` and `create()` stored."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection, models, transaction
from django.db.models import Q
from django.db.models.signals import post_save
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import services as customer_services
from customers.models import Customer, Identity
from interactions import cases, continuity, inbound, inbound_batch, inbound_bulk, inbound_claims
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from omnidesk import compiled_queries
from routing.models import ConversationIntent, Intent, RoutingItem
from tests.factories import chat, process_alone

pytestmark = pytest.mark.django_db


def fields_of(instance: models.Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def described(case: Conversation) -> dict[str, Any]:
    """Everything the continuity rule, routing and reporting read of a candidate case."""
    return {
        **fields_of(case),
        "stored_intent_id": case.stored_intent_id,  # type: ignore[attr-defined]
        "stored_intent_default": case.stored_intent_default,  # type: ignore[attr-defined]
        "customer": fields_of(case.customer),
        "channel": fields_of(case.channel),
        "assignee": None if case.assignee is None else fields_of(case.assignee),
        "queue": None if case.queue is None else fields_of(case.queue),
    }


@pytest.fixture
def carla_and_dan_cases(alice: Any, carla: Customer, chat_channel: Channel) -> tuple[Customer, Customer]:
    """Carla: an open case assigned to Alice with a billing intent, one resolved yesterday, one resolved a month
    ago, one pending with the default intent. Dan: an open case in no queue."""
    now = timezone.now()
    dan = Customer.objects.create(display_name="Dan")
    billing = Intent.objects.create(key="billing", name="Billing", keywords=["facture"])
    default = Intent.objects.create(key="other", name="Other", is_default=True)
    open_case = Conversation.objects.create(
        customer=carla, channel=chat_channel, queue=chat_channel.queue, assignee=alice, last_message_at=now
    )
    ConversationIntent.objects.create(conversation=open_case, intent=billing, confidence=0.9)
    Conversation.objects.create(
        customer=carla, channel=chat_channel, status=Conversation.Status.RESOLVED, resolved_at=now - timedelta(days=1)
    )
    Conversation.objects.create(
        customer=carla, channel=chat_channel, status=Conversation.Status.RESOLVED, resolved_at=now - timedelta(days=30)
    )
    pending = Conversation.objects.create(customer=carla, channel=chat_channel, status=Conversation.Status.PENDING)
    ConversationIntent.objects.create(conversation=pending, intent=default, confidence=0.2)
    Conversation.objects.create(customer=dan, channel=chat_channel)
    return carla, dan


def test_it_reads_the_candidate_cases_as_their_queryset_does(carla_and_dan_cases: tuple[Customer, Customer]) -> None:
    carla, dan = carla_and_dan_cases
    since = timezone.now() - timedelta(days=3)
    for customer_ids in ([carla.pk], [dan.pk], [carla.pk, dan.pk]):
        with transaction.atomic():
            expected = [described(c) for c in continuity.candidate_cases(customer_ids=customer_ids, since=since)]
            for _ in range(2):  # compiled the first time, from the cache the second
                got = [
                    described(c)
                    for c in compiled_queries.fetch(continuity.candidate_cases, customer_ids=customer_ids, since=since)
                ]
                assert got == expected
    assert len(expected) == 4, "Carla's three live cases and Dan's; not the case resolved a month ago"


def test_it_sends_the_sql_the_queryset_compiles_with_the_values_in_place(
    carla_and_dan_cases: tuple[Customer, Customer],
) -> None:
    carla, _dan = carla_and_dan_cases
    since = timezone.now() - timedelta(days=3)
    with transaction.atomic():
        compiled_queries.fetch(continuity.candidate_cases, customer_ids=[carla.pk], since=since)  # compiles
        sql, params = continuity.candidate_cases(customer_ids=[carla.pk], since=since).query.sql_with_params()
        with CaptureQueriesContext(connection) as captured:
            compiled_queries.fetch(continuity.candidate_cases, customer_ids=[carla.pk], since=since)
    with connection.cursor() as cursor:
        assert captured.captured_queries[0]["sql"] == cursor.mogrify(sql, params).decode()


def test_it_reads_a_pending_event_a_routing_item_and_a_customer_as_their_querysets_do(
    alice: Any, carla: Customer, chat_channel: Channel
) -> None:
    first = process_alone(chat(chat_channel, "carla-visitor", "Hello"))
    event = chat(chat_channel, "carla-visitor", "Still there?")
    identity = Identity.objects.filter(customer=carla).order_by("pk").first()
    assert identity is not None
    with transaction.atomic():
        for build, arguments in (
            (inbound_batch.pending_event, {"event_id": event.pk}),
            (cases.locked_routing_item_of, {"conversation_id": first.conversation_id}),
            (customer_services.customer_by_identity, {"kind": identity.kind, "address": identity.address}),
        ):
            expected = list(build(**arguments))
            assert len(expected) == 1
            for _ in range(2):
                got = compiled_queries.fetch(build, **arguments)
                assert [fields_of(i) for i in got] == [fields_of(i) for i in expected]
        found = compiled_queries.fetch(inbound_batch.pending_event, event_id=event.pk)[0]
        assert fields_of(found.channel) == fields_of(chat_channel)
        assert found.channel.queue is not None and found.channel.queue.pk == chat_channel.queue_id
        assert compiled_queries.fetch(cases.locked_routing_item_of, conversation_id=-1) == []
    assert RoutingItem.objects.filter(conversation_id=first.conversation_id).exists()


def first_cases(*, limit: int) -> Any:
    return Conversation.objects.order_by("pk")[:limit]


def test_it_leaves_a_query_whose_sql_depends_on_a_value_to_the_orm(carla_and_dan_cases: Any) -> None:
    # The slice is folded into the SQL text: each value needs its own statement, so nothing is cached.
    with transaction.atomic():
        assert len(compiled_queries.fetch(first_cases, limit=1)) == 1
        assert len(compiled_queries.fetch(first_cases, limit=3)) == 3


def test_it_stores_a_continuing_message_as_save_and_create_did(
    alice: Any, carla: Customer, chat_channel: Channel
) -> None:
    first = process_alone(chat(chat_channel, "carla-visitor", "Hello"))
    case = Conversation.objects.get(pk=first.conversation_id)
    seen: list[tuple[int, bool]] = []

    def saved(sender: Any, instance: Interaction, created: bool, **_kwargs: Any) -> None:
        seen.append((instance.pk, created))

    post_save.connect(saved, sender=Interaction, dispatch_uid="test_inbound_sql")
    try:
        with transaction.atomic():
            before = case.updated_at
            case.last_message_at = timezone.now()
            inbound_bulk.save_case_now(case, "last_message_at")
            raw = inbound_bulk.create_now(
                Interaction(conversation=case, customer=carla, channel=chat_channel, external_id="raw", text="a")
            )
            orm = Interaction.objects.create(
                conversation=case, customer=carla, channel=chat_channel, external_id="orm", text="a"
            )
    finally:
        post_save.disconnect(dispatch_uid="test_inbound_sql", sender=Interaction)
    stored = Conversation.objects.get(pk=case.pk)
    assert stored.last_message_at == case.last_message_at and stored.updated_at == case.updated_at > before
    assert seen == [(raw.pk, True), (orm.pk, True)], "post_save receivers ran for both, as created"
    as_stored = {
        kind: {k: v for k, v in fields_of(Interaction.objects.get(pk=i.pk)).items() if k not in ("id", "external_id")}
        for kind, i in (("raw", raw), ("orm", orm))
    }
    as_stored["raw"].pop("created_at"), as_stored["orm"].pop("created_at")
    assert as_stored["raw"] == as_stored["orm"]
    assert raw._state.adding is False and Interaction.objects.get(pk=raw.pk).created_at == raw.created_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("session_worker_paused")
def test_it_continues_a_chat_in_a_batch_of_one_compiling_no_query(
    alice: Any, carla: Customer, chat_channel: Channel
) -> None:
    first = process_alone(chat(chat_channel, "carla-visitor", "My order is late"))
    process_alone(chat(chat_channel, "carla-visitor", "Hello?"))  # the hot queries are compiled by now
    event = chat(chat_channel, "carla-visitor", "Any news?")

    as_sql = SQLCompiler.as_sql
    with (
        mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=as_sql) as compiled,
        CaptureQueriesContext(connection) as captured,
    ):
        inbound.process_inbound_event(event_id=event.pk, channel_id=chat_channel.pk, kind=chat_channel.kind)

    made = Interaction.objects.get(external_id=event.external_id)
    assert made.conversation_id == first.conversation_id and made.meta["continuity"] == continuity.OPEN_CASE
    compiled_tables = sorted({call.args[0].query.model._meta.db_table for call in compiled.call_args_list})
    assert compiled_tables == [], "every query of a continuing message is compiled once"
    assert len(captured.captured_queries) == 16, "the same statements as before, fewer compiled"


def test_it_parses_each_sms_senders_number_once_per_batch(alice: Any, support_queue: Any) -> None:
    import phonenumbers

    sms_channel = Channel.objects.create(kind=Channel.Kind.SMS, name="SMS", queue=support_queue)
    numbers = [f"+3361234560{n}" for n in range(4)]

    def sms(number: str) -> InboundEvent:
        sid = f"SM{uuid.uuid4().hex}"
        payload = {"MessageSid": sid, "From": number, "To": "+33100000000", "Body": "Bonjour"}
        return inbound.record_inbound_event(channel=sms_channel, external_id=sid, payload=payload, provider="twilio")[0]

    events = [sms(number) for number in numbers]
    claimed = inbound_claims.claim_inbound_events(event_id=0, channel_id=sms_channel.pk, limit=100)
    with mock.patch.object(phonenumbers, "parse", wraps=phonenumbers.parse) as parse:
        made = inbound.process_claimed_events(event_ids=claimed)

    assert sorted(made) == sorted(event.pk for event in events)
    assert {entry.customer.identities.get().address for entry in made.values() if entry is not None} == set(numbers)
    assert parse.call_count == len(numbers), "the prelude's parse serves its keys, its lookups and the processors"
    assert InboundEvent.objects.filter(pk__in=claimed, processed_at__isnull=False, last_error="").count() == 4


def conversations_touching(*, user_id: int) -> Any:
    """A user's id in two places, compared with a 32-bit column (auth_user.id) through each."""
    return Conversation.objects.filter(Q(assignee_id=user_id) | Q(queue__members__id=user_id)).distinct()


def test_it_caches_a_query_naming_a_user_twice_and_answers_as_its_queryset(
    alice: Any, sophie: Any, carla_and_dan_cases: Any
) -> None:
    with transaction.atomic():
        for user in (alice, sophie, alice):
            expected = sorted(c.pk for c in conversations_touching(user_id=user.pk))
            assert sorted(c.pk for c in compiled_queries.fetch(conversations_touching, user_id=user.pk)) == expected
        assert expected, "alice has cases"
        with CaptureQueriesContext(connection) as captured:
            compiled_queries.fetch(conversations_touching, user_id=alice.pk)
    assert captured.captured_queries[0]["sql"].count(str(alice.pk)) >= 2
    compiled = compiled_queries._CACHE[(conversations_touching, connection.vendor, (("user_id", int),))]
    assert compiled is not None, "cached: the id's two places are both its"
