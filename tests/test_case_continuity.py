"""One case across channels (issue 14): the continuity rule, the one `open_conversation` verb, routing following the
case and the reply default. Messages arrive through `receive_message` exactly as every channel's ingest calls it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from customers.models import Customer, Identity
from interactions import continuity, services
from interactions.models import Channel, Conversation, Interaction
from interactions.phone import callbacks
from interactions.phone.models import Callback
from routing.models import Assignment, Intent, Queue, RoutingItem
from tests.conftest import make_user
from tests.phone_factories import CARLA_PHONE, give_phone, send_event

pytestmark = pytest.mark.django_db


def write(customer: Customer, channel: Channel, text: str, *, unthreaded_mail: bool = False) -> Interaction:
    """An inbound message as the channel's ingest hands it over (email: explicit threading, no marker found)."""
    with transaction.atomic():
        return services.receive_message(
            customer=customer,
            channel=channel,
            external_id=f"{channel.kind}-{Interaction.objects.count()}",
            text=text,
            new_conversation=unthreaded_mail,
        )


def with_targets(queue: Queue) -> Queue:
    queue.business_hours = {}
    queue.sla_first_response_minutes = 60
    queue.sla_next_response_minutes = 30
    queue.sla_resolution_minutes = 600
    queue.save()
    return queue


def test_it_continues_the_chat_case_when_the_customer_emails_then_calls(
    alice: Any, carla: Customer, chat_channel: Channel, email_channel: Channel, hotline: Channel
) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com", verified=True)
    give_phone(carla)
    chat = write(carla, chat_channel, "Ma facture de novembre est fausse")
    case = chat.conversation
    assert case.assignee == alice

    mail = write(carla, email_channel, "Je vous envoie la facture en pièce jointe", unthreaded_mail=True)
    call = send_event(hotline, "ringing", "c-1", caller=CARLA_PHONE, agent="alice")

    assert mail.conversation_id == case.pk and mail.meta["continuity"] == continuity.OPEN_CASE
    assert call.conversation_id == case.pk
    entries = list(case.interactions.order_by("created_at", "id").values_list("channel__kind", flat=True))
    assert entries == ["chat", "email", "voice"], "one case, each entry on its own channel, in order"
    assert Conversation.objects.filter(customer=carla).count() == 1
    assert Assignment.objects.filter(conversation=case).count() == 1, "the agent keeps it: no new assignment"
    case.refresh_from_db()
    assert case.assignee == alice
    assert case.channel == email_channel, "the reply default: the last channel the customer wrote in on"


def test_it_opens_a_new_case_for_an_unthreaded_email_when_the_case_already_has_mail(
    alice: Any, carla: Customer, email_channel: Channel
) -> None:
    first = write(carla, email_channel, "Bonjour", unthreaded_mail=True)
    second = write(carla, email_channel, "Autre chose", unthreaded_mail=True)
    assert second.conversation_id != first.conversation_id
    assert second.meta["continuity"] == continuity.UNTHREADED


def test_it_opens_a_new_case_for_an_unthreaded_email_long_after_the_chat(
    alice: Any, carla: Customer, chat_channel: Channel, email_channel: Channel
) -> None:
    chat = write(carla, chat_channel, "Bonjour")
    Conversation.objects.filter(pk=chat.conversation_id).update(last_message_at=timezone.now() - timedelta(days=10))
    mail = write(carla, email_channel, "Bonjour", unthreaded_mail=True)
    assert mail.conversation_id != chat.conversation_id


def test_it_opens_a_new_case_when_the_message_is_about_another_intent(
    alice: Any, carla: Customer, chat_channel: Channel, intents: dict[str, Intent]
) -> None:
    bill = write(carla, chat_channel, "Ma facture est fausse, je veux un remboursement")
    parcel = write(carla, chat_channel, "Et mon colis n'est pas arrivé, où est la livraison ?")
    assert parcel.conversation_id != bill.conversation_id
    assert parcel.meta["continuity"] == continuity.NEW_INTENT
    same = write(carla, chat_channel, "merci")
    assert same.conversation_id == parcel.conversation_id, "no confident intent: the latest open case continues"


def test_it_reopens_a_recently_resolved_case_about_the_same_thing_only(
    alice: Any, carla: Customer, chat_channel: Channel, email_channel: Channel, intents: dict[str, Intent]
) -> None:
    bill = write(carla, chat_channel, "Ma facture est fausse, je veux un remboursement")
    services.resolve_conversation(conversation=bill.conversation, by=alice)

    again = write(carla, email_channel, "Ma facture est toujours fausse", unthreaded_mail=True)
    assert again.conversation_id == bill.conversation_id and again.meta["continuity"] == continuity.REOPENED
    case = Conversation.objects.get(pk=bill.conversation_id)
    assert case.status == Conversation.Status.OPEN and case.resolved_at is None
    assert RoutingItem.objects.get(conversation=case).state != RoutingItem.State.CLOSED, "back in routing"

    other = write(carla, chat_channel, "Quelle heure est-il ?")
    assert other.conversation_id == case.pk, "the reopened case is open again: it continues"


@override_settings(OMNIDESK_CASE_REOPEN_HOURS=72)
def test_it_does_not_reopen_a_case_resolved_longer_ago_than_the_window(
    alice: Any, carla: Customer, chat_channel: Channel, intents: dict[str, Intent]
) -> None:
    bill = write(carla, chat_channel, "Ma facture est fausse")
    services.resolve_conversation(conversation=bill.conversation, by=alice)
    Conversation.objects.filter(pk=bill.conversation_id).update(resolved_at=timezone.now() - timedelta(hours=73))
    again = write(carla, chat_channel, "Ma facture est toujours fausse")
    assert again.conversation_id != bill.conversation_id and again.meta["continuity"] == continuity.NO_CASE


def test_it_keeps_an_email_reply_token_above_the_rule(
    alice: Any, carla: Customer, chat_channel: Channel, email_channel: Channel
) -> None:
    older = write(carla, email_channel, "Première demande", unthreaded_mail=True)
    newer = Conversation.objects.create(
        customer=carla, channel=chat_channel, last_message_at=timezone.now() + timedelta(minutes=1)
    )  # without the marker, this most recent open case would continue
    with transaction.atomic():
        threaded = services.receive_message(
            customer=carla,
            channel=email_channel,
            external_id="reply-1",
            text="Re: Première demande",
            conversation=older.conversation,
            new_conversation=True,
        )
    assert threaded.conversation_id == older.conversation_id
    assert threaded.meta["continuity"] == continuity.THREAD
    assert not newer.interactions.exists()


def test_it_reroutes_the_case_when_its_agent_cannot_serve_the_new_channel(
    support_queue: Queue, carla: Customer, chat_channel: Channel, email_channel: Channel
) -> None:
    chatty = make_user("alice", queues=[support_queue], capacity={"email": 0})
    case = write(carla, chat_channel, "Bonjour").conversation
    assert case.assignee == chatty
    bruno = make_user("bruno", queues=[support_queue], capacity={"chat": 0})

    mail = write(carla, email_channel, "Suite par mail", unthreaded_mail=True)

    assert mail.conversation_id == case.pk
    case.refresh_from_db()
    assert case.assignee == bruno, "alice takes no email: the case went back to its queue and to bruno"
    live = Assignment.objects.get(conversation=case, ended_at__isnull=True)
    assert live.agent == bruno and live.capacity_class == "email"
    assert Assignment.objects.get(conversation=case, agent=chatty).end_reason == "channel_switch"


def test_it_starts_the_sla_clocks_of_a_call_routed_to_an_intent_queue(
    alice: Any, oscar: Any, billing_queue: Queue, carla: Customer, hotline: Channel
) -> None:
    with_targets(billing_queue)
    give_phone(carla)
    call = send_event(hotline, "ringing", "c-2", caller=CARLA_PHONE, queue="Billing")
    case = Conversation.objects.get(calls=call)
    assert case.queue == billing_queue
    assert case.first_response_due_at is not None and case.resolution_due_at is not None


def test_it_starts_the_sla_clocks_of_a_routed_callback(alice: Any, support_queue: Queue, hotline: Channel) -> None:
    with_targets(support_queue)
    send_event(hotline, "ringing", "m-1", caller=CARLA_PHONE)
    call = send_event(hotline, "hangup", "m-1", cause="no_answer")
    callback = Callback.objects.get(call=call)
    callbacks.route_due_callbacks()
    callback.refresh_from_db()
    case = Conversation.objects.get(callbacks=callback)
    assert case.assignee == alice
    assert case.first_response_due_at is not None and case.resolution_due_at is not None


def test_it_replies_by_default_on_the_customers_last_channel_and_on_the_one_the_agent_picks(
    alice: Any, carla: Customer, chat_channel: Channel, email_channel: Channel
) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com", verified=True)
    case = write(carla, chat_channel, "Bonjour").conversation
    write(carla, email_channel, "Suite par mail", unthreaded_mail=True)
    by_default = services.reply_to_conversation(conversation=case, author=alice, text="Bien reçu")
    assert by_default.channel == email_channel
    picked = services.reply_to_conversation(conversation=case, author=alice, text="En chat", channel=chat_channel)
    assert picked.channel == chat_channel
