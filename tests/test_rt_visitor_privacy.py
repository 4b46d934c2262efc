"""What a website visitor sees: their own channel's chat, no internal ids, no usernames, nobody else's history."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from customers.models import Customer, Identity
from interactions import visitors
from interactions.models import Channel, Conversation
from interactions.services import reply_to_conversation
from routing.models import Queue
from tests.conftest import make_user
from tests.factories import customer_with_earlier_chat, widget_message
from tests.rt_support import aged_token, open_visitor, receive_type

pytestmark = pytest.mark.django_db(transaction=True)


def visitor_of(channel: Channel, welcome: dict[str, Any]) -> str:
    claim = visitors.visitor_from_token(channel=channel, token=welcome["token"])
    assert claim is not None
    return claim.visitor_id


def assert_nothing_internal(frame: Any, *, forbidden: list[str]) -> None:
    """No integer anywhere (database ids, event ids), and none of the `forbidden` strings anywhere in the JSON."""

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            assert not (isinstance(value, int) and not isinstance(value, bool)), (value, frame)

    walk(frame)
    text = json.dumps(frame)
    for word in forbidden:
        assert word not in text, (word, text)


def signed(channel: Channel, email: str) -> dict[str, str]:
    return {"email": email, "identifier_hash": visitors.sign_visitor_email(channel=channel, email=email)}


def nameless_agent(username: str, queue: Queue) -> Any:
    user = make_user(username, queues=[queue])
    user.first_name = ""
    user.save(update_fields=["first_name"])
    return user


async def test_it_sends_visitors_no_internal_ids_and_no_usernames(
    alice: Any, support_queue: Queue, chat_channel: Channel
) -> None:
    zed = await database_sync_to_async(nameless_agent)("zed.internal42", support_queue)
    widget, welcome = await open_visitor(chat_channel)
    assert "last_event_id" not in welcome
    visitor_id = visitor_of(chat_channel, welcome)
    inbound = await database_sync_to_async(widget_message)(chat_channel, visitor=visitor_id, text="Bonjour")
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=inbound.conversation_id)
    replies = [
        await database_sync_to_async(reply_to_conversation)(conversation=conversation, author=author, text=text)
        for author, text in ((alice, "Je regarde"), (zed, "C'est réglé"))
    ]
    forbidden = ["alice", "zed.internal42", "conversation_id", *(f'"{r.pk}"' for r in [inbound, *replies])]

    live = [await receive_type(widget, "message.created", timeout=10) for _ in range(3)]
    for frame in live:
        assert "id" not in frame  # the event's sequence number
        assert_nothing_internal(frame, forbidden=forbidden)
    authors = {frame["data"]["message"]["text"]: frame["data"]["message"]["author"] for frame in live}
    assert authors == {"Bonjour": "", "Je regarde": "Alice", "C'est réglé": "Agent"}
    await widget.disconnect()

    again, welcome = await open_visitor(chat_channel, token=welcome["token"])
    assert [m["text"] for m in welcome["history"]] == ["Bonjour", "Je regarde", "C'est réglé"]
    assert_nothing_internal(welcome, forbidden=forbidden)
    # The history and the live frames name each message the same way, so the widget can deduplicate.
    assert [m["id"] for m in welcome["history"]] == [f["data"]["message"]["id"] for f in live]
    await again.disconnect()


async def test_it_pushes_a_reply_only_to_the_visitors_of_its_own_chat_channel(
    alice: Any, support_queue: Queue, chat_channel: Channel
) -> None:
    other_site = await database_sync_to_async(Channel.objects.create)(
        kind=Channel.Kind.CHAT, name="Other site", queue=support_queue, allowed_origins=["http://shop.example"]
    )
    on_a, welcome_a = await open_visitor(chat_channel, identity=signed(chat_channel, "jeanne@example.com"))
    on_b, welcome_b = await open_visitor(other_site, identity=signed(other_site, "jeanne@example.com"))
    # One person, two websites: the same customer.
    customers = await database_sync_to_async(
        lambda: set(
            Identity.objects.filter(
                address__in=[visitor_of(chat_channel, welcome_a), visitor_of(other_site, welcome_b)]
            ).values_list("customer_id", flat=True)
        )
    )()
    assert len(customers) == 1

    inbound = await database_sync_to_async(widget_message)(
        other_site, visitor=visitor_of(other_site, welcome_b), text="Depuis le site B"
    )
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=inbound.conversation_id)
    await database_sync_to_async(reply_to_conversation)(conversation=conversation, author=alice, text="Réponse B")
    texts = [(await receive_type(on_b, "message.created", timeout=10))["data"]["message"]["text"] for _ in range(2)]
    assert texts == ["Depuis le site B", "Réponse B"]
    assert await on_a.receive_nothing(timeout=1)
    await on_a.disconnect()
    await on_b.disconnect()


@pytest.fixture
def jeanne(chat_channel: Channel) -> Customer:
    """Jeanne, whose earlier chat carries her IBAN: it must never reach another visitor."""
    return customer_with_earlier_chat(chat_channel, text="Mon IBAN est FR76 3000 6000 0112 3456 7890 189")


async def test_it_starts_a_fresh_visitor_after_the_sites_user_logged_out(
    jeanne: Customer, chat_channel: Channel
) -> None:
    logged_in, welcome = await open_visitor(chat_channel, identity=signed(chat_channel, "jeanne@example.com"))
    assert [m["text"] for m in welcome["history"]] == ["Mon IBAN est FR76 3000 6000 0112 3456 7890 189"]
    await logged_in.disconnect()

    # Same browser, same stored token, but the page no longer vouches for anyone.
    next_person, after = await open_visitor(chat_channel, token=welcome["token"])
    assert after["history"] == []
    assert visitor_of(chat_channel, after) != visitor_of(chat_channel, welcome)
    message = await database_sync_to_async(widget_message)(
        chat_channel, visitor=visitor_of(chat_channel, after), text="Qui suis-je ?"
    )
    assert message.customer_id != jeanne.pk
    await next_person.disconnect()


async def test_it_does_not_honour_a_signed_visitors_token_for_another_signed_identity(
    jeanne: Customer, chat_channel: Channel
) -> None:
    _first, welcome = await open_visitor(chat_channel, identity=signed(chat_channel, "jeanne@example.com"))
    _second, other = await open_visitor(
        chat_channel, token=welcome["token"], identity=signed(chat_channel, "marc@example.com")
    )
    assert other["history"] == []
    assert visitor_of(chat_channel, other) != visitor_of(chat_channel, welcome)


async def test_it_does_not_honour_a_signed_visitors_token_with_a_forged_identity(
    jeanne: Customer, chat_channel: Channel
) -> None:
    _first, welcome = await open_visitor(chat_channel, identity=signed(chat_channel, "jeanne@example.com"))
    forged = {"email": "jeanne@example.com", "identifier_hash": "0" * 64}
    _second, other = await open_visitor(chat_channel, token=welcome["token"], identity=forged)
    assert other["history"] == []


async def test_it_keeps_a_signed_visitor_who_comes_back_signed(jeanne: Customer, chat_channel: Channel) -> None:
    _first, welcome = await open_visitor(chat_channel, identity=signed(chat_channel, "jeanne@example.com"))
    _second, again = await open_visitor(
        chat_channel, token=welcome["token"], identity=signed(chat_channel, "jeanne@example.com")
    )
    assert visitor_of(chat_channel, again) == visitor_of(chat_channel, welcome)
    assert len(again["history"]) == 1


@pytest.mark.parametrize(
    ("age", "verified", "honoured"),
    [
        pytest.param(23 * 3600, False, True, id="anonymous-23h-honoured"),
        pytest.param(25 * 3600, False, False, id="anonymous-25h-expired"),
        pytest.param(50 * 60, True, True, id="identified-50min-honoured"),
        pytest.param(70 * 60, True, False, id="identified-70min-expired"),
    ],
)
async def test_it_expires_tokens(chat_channel: Channel, age: int, verified: bool, honoured: bool) -> None:
    visitor_id = visitors.new_visitor_id(channel=chat_channel)
    await database_sync_to_async(widget_message)(chat_channel, visitor=visitor_id, text="Mon ancien message")
    identity = None
    if verified:
        identity = signed(chat_channel, "jeanne@example.com")
        await database_sync_to_async(visitors.identify_visitor)(
            channel=chat_channel,
            visitor_id=visitor_id,
            email="jeanne@example.com",
            name="",
            **{"identifier_hash": identity["identifier_hash"]},
        )
    token = aged_token(chat_channel, visitor_id, age=age, verified=verified)
    socket, welcome = await open_visitor(chat_channel, token=token, identity=identity)
    assert (visitor_of(chat_channel, welcome) == visitor_id) is honoured
    if not verified:
        assert bool(welcome["history"]) is honoured
    await socket.disconnect()
