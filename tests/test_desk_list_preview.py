"""The desk's lists show the start of each conversation's last entry, as far as the viewer may read it.

Live-added list items carried the preview (desk.js, from the conversation events) while the server-rendered ones only
showed a time: both now show the preview, and the server asks interactions.access which entry the viewer may read.
"""

from __future__ import annotations

from typing import Any

from django.test import Client

from assist.notes import add_note
from interactions import access
from interactions.models import Channel, Conversation
from routing.models import AgentProfile, Queue
from tests.conftest import PASSWORD
from tests.factories import widget_message


def _previews(user: Any, conversation: Conversation) -> str:
    annotated: Any = access.with_preview_for(user, Conversation.objects.filter(pk=conversation.pk)).get()
    return str(annotated.preview)


def _desk_as(username: str) -> str:
    client = Client()
    client.login(username=username, password=PASSWORD)
    return client.get("/desk/").content.decode()


def test_it_shows_the_last_message_in_the_server_rendered_queue_list(alice: Any, chat_channel: Channel) -> None:
    # Away, Alice is offered nothing: the conversation waits in her queue's list.
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    conversation = widget_message(chat_channel, visitor="v-preview", text="Bonjour").conversation
    widget_message(chat_channel, visitor="v-preview", text="Mon colis 4521 est en retard")
    conversation.refresh_from_db()
    assert conversation.assignee_id is None

    page = _desk_as("alice")

    assert '<span class="preview">Mon colis 4521 est en retard</span>' in page
    assert "Bonjour</span>" not in page


def test_it_previews_a_note_only_to_those_who_may_read_notes(
    alice: Any, oscar: Any, sophie: Any, chat_channel: Channel
) -> None:
    conversation = widget_message(chat_channel, text="Ma facture est fausse").conversation
    add_note(conversation=conversation, author=sophie, text="Client VIP, rappeler avant midi")

    assert _previews(alice, conversation) == "Client VIP, rappeler avant midi"
    assert _previews(sophie, conversation) == "Client VIP, rappeler avant midi"
    # Oscar (another team) may read the conversation, not its notes: his preview is the last message.
    assert _previews(oscar, conversation) == "Ma facture est fausse"


def test_it_previews_nothing_of_a_confidential_conversation_to_non_members(
    fiona: Any, alice: Any, fraud_queue: Queue
) -> None:
    fraud_line = Channel.objects.create(kind=Channel.Kind.CHAT, name="Fraud line", queue=fraud_queue)
    conversation = widget_message(fraud_line, text="Quelqu'un a utilisé ma carte").conversation

    assert _previews(fiona, conversation) == "Quelqu'un a utilisé ma carte"
    assert _previews(alice, conversation) == ""


def test_it_cuts_a_long_entry_to_the_preview_length(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel, text="x" * 500).conversation

    assert _previews(alice, conversation) == "x" * access.PREVIEW_LENGTH
