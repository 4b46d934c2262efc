"""The desk's conversation list filters and search (issue 15, item 7), through the desk view."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from assist.models import Mention
from interactions.models import Channel, Conversation, Interaction
from routing.models import ConversationIntent, Intent, Queue
from tests.clients import logged_in
from tests.factories import customer_named, widget_message


def listed(html: str, conversation: Conversation) -> bool:
    return f'id="conv-{conversation.pk}"' in html


def desk(username: str, **params: str) -> str:
    response = logged_in(username).get("/desk/", params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def unassigned(channel: Channel, *, name: str, text: str) -> Conversation:
    customer = customer_named(name)
    conversation = Conversation.objects.create(
        customer=customer, channel=channel, queue=channel.queue, queued_at=timezone.now()
    )
    Interaction.objects.create(
        conversation=conversation,
        customer=customer,
        channel=channel,
        direction=Interaction.Direction.INBOUND,
        text=text,
    )
    return conversation


def test_it_filters_by_channel_status_queue_and_list(
    alice: Any, support_queue: Queue, billing_queue: Queue, chat_channel: Channel, email_channel: Channel
) -> None:
    chat = unassigned(chat_channel, name="Carla", text="Bonjour")
    mail = unassigned(email_channel, name="Marc", text="Hello")
    pending = unassigned(email_channel, name="Paula", text="Waiting")
    Conversation.objects.filter(pk=pending.pk).update(status=Conversation.Status.PENDING)
    mine = unassigned(chat_channel, name="Mina", text="Salut")
    Conversation.objects.filter(pk=mine.pk).update(assignee=alice)
    billing_queue.members.add(alice)
    billing = unassigned(Channel.objects.create(kind="sms", name="SMS", queue=billing_queue), name="Bill", text="x")

    everything = desk("alice")
    assert [listed(everything, c) for c in (chat, mail, pending, mine, billing)] == [True, True, False, True, True]
    by_mail = desk("alice", channel="email")
    assert [listed(by_mail, c) for c in (chat, mail, pending, mine)] == [False, True, False, False]
    waiting = desk("alice", status="pending")
    assert [listed(waiting, c) for c in (chat, mail, pending)] == [False, False, True]
    support_only = desk("alice", queue=str(support_queue.pk))
    assert listed(support_only, chat) and not listed(support_only, billing)
    only_mine = desk("alice", list="mine")
    assert listed(only_mine, mine) and not listed(only_mine, chat)
    assert 'id="list-queue"' not in only_mine
    assert "No conversation matches these filters." in desk("alice", channel="telegram")


def test_it_searches_names_and_message_text_of_conversations_the_agent_may_act_on(
    alice: Any, sophie: Any, oscar: Any, chat_channel: Channel
) -> None:
    by_text = unassigned(chat_channel, name="Carla", text="Mon remboursement n'est pas arrivé")
    by_name = unassigned(chat_channel, name="Rembrandt Dupont", text="Bonjour")
    other = unassigned(chat_channel, name="Zoé", text="Bonjour")
    html = desk("alice", q="rembo")
    assert [listed(html, c) for c in (by_text, by_name, other)] == [True, False, False]
    html = desk("alice", q="rembrandt")
    assert [listed(html, c) for c in (by_text, by_name, other)] == [False, True, False]
    assert not listed(desk("oscar", q="rembo"), by_text)  # not his queue: nothing to act on


def test_it_filters_by_intent_mentions_and_sla_at_risk(alice: Any, sophie: Any, chat_channel: Channel) -> None:
    billing = Intent.objects.create(key="billing", name="Billing")
    about_billing = unassigned(chat_channel, name="Carla", text="Ma facture")
    ConversationIntent.objects.create(conversation=about_billing, intent=billing)
    mentioned = unassigned(chat_channel, name="Marc", text="Bonjour")
    note = Interaction.objects.create(
        conversation=mentioned,
        customer=mentioned.customer,
        channel=chat_channel,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=sophie,
        text="@alice look",
    )
    Mention.objects.create(note=note, conversation=mentioned, user=alice, author=sophie)
    late = unassigned(chat_channel, name="Luc", text="Hello?")
    Conversation.objects.filter(pk=late.pk).update(first_response_due_at=timezone.now() - timedelta(minutes=5))

    html = desk("alice", intent="billing")
    assert [listed(html, c) for c in (about_billing, mentioned, late)] == [True, False, False]
    html = desk("alice", mentions="1")
    assert [listed(html, c) for c in (about_billing, mentioned, late)] == [False, True, False]
    html = desk("alice", sla="at_risk")
    assert [listed(html, c) for c in (about_billing, mentioned, late)] == [False, False, True]


def test_it_ignores_unknown_filter_values(alice: Any, chat_channel: Channel) -> None:
    chat = unassigned(chat_channel, name="Carla", text="Bonjour")
    html = desk("alice", status="deleted", channel="pigeon", queue="abc", list="everything")
    assert listed(html, chat)


def test_it_keeps_the_filters_in_the_page(alice: Any, chat_channel: Channel) -> None:
    widget_message(chat_channel, text="Bonjour")
    page = logged_in("alice").get("/desk/", {"channel": "email", "q": "rembo"}).content.decode()
    assert '<option value="email" selected>' in page
    assert 'name="q" form="list-filters" value="rembo"' in page
