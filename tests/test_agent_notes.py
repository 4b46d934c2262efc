"""Internal notes from the composer and @mentions (issue 15, item 1)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError

from assist import notes
from assist.models import Mention
from interactions import visitors
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from routing.models import Queue
from tests.clients import logged_in
from tests.conftest import make_user
from tests.events import groups_of, published_events
from tests.factories import widget_message
from tests.rt_support import desk_socket, open_visitor, receive_type, session_of


def test_it_adds_a_note_from_the_composer_and_mentions_a_colleague(
    alice: Any, bruno: Any, chat_channel: Channel
) -> None:
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    with published_events() as published:
        response = logged_in("alice").post(
            f"/desk/conversations/{conversation.pk}/note/",
            {"text": "@bruno can you check the invoice?", "mode": "note"},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200
    note = Interaction.objects.get(kind="note")
    assert note.author == alice and note.meta == {"mentions": [bruno.pk]}
    assert "Internal note" in response.content.decode()
    mention = Mention.objects.get()
    assert (mention.user, mention.conversation_id, mention.read_at) == (bruno, conversation.pk, None)
    # The mention event is for Bruno's sockets only; the note itself for the conversation's audience, never a visitor.
    assert groups_of(published.one("mention.created")) == {realtime.agent_group(bruno.pk)}
    notes = [e for e in published.of_type("message.created") if e.data.get("message", {}).get("kind") == "note"]
    note_groups = {group for note_event in notes for group in groups_of(note_event)}
    assert note_groups
    assert not [group for group in note_groups if group.startswith(realtime.VISITOR_PREFIX)]
    assert not Interaction.objects.filter(direction="out", kind="message").exists()


def test_it_refuses_to_mention_an_agent_who_may_not_see_the_notes(
    alice: Any, oscar: Any, chat_channel: Channel
) -> None:
    conversation = widget_message(chat_channel).conversation
    response = logged_in("alice").post(
        f"/desk/conversations/{conversation.pk}/note/", {"text": "@oscar look"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer"
    body = response.content.decode()
    assert "@oscar may not see this conversation" in body
    # The refused note stays in the composer, still in Note mode, so nothing is lost and nothing goes to the customer.
    assert "mode-note" in body and "@oscar look" in body
    assert not Interaction.objects.filter(kind="note").exists()
    assert not Mention.objects.exists()


def test_it_refuses_unknown_and_deactivated_mentions_but_not_email_addresses(
    alice: Any, dora: Any, sophie: Any, chat_channel: Channel
) -> None:
    conversation = widget_message(chat_channel).conversation
    with pytest.raises(ValidationError, match="No active agent is called @nobody"):
        notes.add_note(conversation=conversation, author=alice, text="@nobody hi")
    with pytest.raises(ValidationError, match="@dora"):
        notes.add_note(conversation=conversation, author=alice, text="ask @dora")
    note = notes.add_note(conversation=conversation, author=alice, text="write to jean@example.com, thanks @sophie.")
    assert note.meta == {"mentions": [sophie.pk]}


def test_it_lets_only_those_who_may_act_write_notes(oscar: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    response = logged_in("oscar").post(f"/desk/conversations/{conversation.pk}/note/", {"text": "hi"})
    assert response.status_code == 403
    assert not Interaction.objects.filter(kind="note").exists()


def test_it_lists_mentions_and_opens_one_marking_it_read(alice: Any, bruno: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    notes.add_note(conversation=conversation, author=alice, text="@bruno please call back")
    client = logged_in("bruno")
    page = client.get("/desk/").content.decode()
    section = page.split('id="list-mentions"')[1].split("</ul>")[0]
    assert "please call back" in section and "unread" in section
    mention = Mention.objects.get()
    response = client.get(f"/desk/mentions/{mention.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/desk/conversations/{conversation.pk}/"
    mention.refresh_from_db()
    assert mention.read_at is not None
    # Someone else's mention is not found.
    assert logged_in("alice").get(f"/desk/mentions/{mention.pk}/").status_code == 404
    # Removed from the queue, Bruno no longer lists (nor opens) it: notes follow the visibility rule.
    bruno.queues.clear()
    assert "please call back" not in logged_in("bruno").get("/desk/").content.decode()
    assert logged_in("bruno").get(f"/desk/mentions/{mention.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_it_delivers_a_mention_live_and_never_the_note_to_the_widget(
    alice: Any, support_queue: Queue, chat_channel: Channel
) -> None:
    bruno = await database_sync_to_async(make_user)("bruno", queues=[support_queue])
    widget, welcome = await open_visitor(chat_channel)
    claim = visitors.visitor_from_token(channel=chat_channel, token=welcome["token"])
    assert claim is not None
    inbound = await database_sync_to_async(widget_message)(chat_channel, visitor=claim.visitor_id, text="Bonjour")
    assert (await receive_type(widget, "message.created", timeout=10))["data"]["message"]["text"] == "Bonjour"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=inbound.conversation_id)
    _client, session = await database_sync_to_async(session_of)(bruno)
    desk = await desk_socket(session)
    await desk.send_json_to({"type": "hello", "last_event_id": 0})
    await receive_type(desk, "welcome", timeout=10)

    await database_sync_to_async(notes.add_note)(
        conversation=conversation, author=alice, text="@bruno secret: refund approved"
    )
    frame = await receive_type(desk, "mention.created", timeout=5)
    assert frame["data"]["conversation_id"] == conversation.pk
    assert frame["data"]["text"] == "@bruno secret: refund approved"
    # The widget receives nothing about the note, and its history on reconnection does not hold it either.
    assert await widget.receive_nothing(timeout=1)
    await widget.disconnect()
    again, welcome = await open_visitor(chat_channel, token=welcome["token"])
    assert [m["text"] for m in welcome["history"]] == ["Bonjour"]
    await again.disconnect()
    await desk.disconnect()
