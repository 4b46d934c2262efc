"""The agent desk's htmx views."""

from __future__ import annotations

from typing import Any

from django.test import Client

from interactions.models import Channel, Conversation, Interaction
from routing.models import AgentProfile
from tests.clients import logged_in
from tests.factories import widget_message


def test_it_sends_anonymous_visitors_to_the_login_page(db: None) -> None:
    response = Client().get("/desk/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_lists_my_conversations_and_the_waiting_ones(alice: Any, chat_channel: Channel) -> None:
    mine = widget_message(chat_channel, text="Bonjour").conversation
    AgentProfile.objects.filter(user=alice).update(chat_capacity=1)
    waiting = widget_message(chat_channel, text="Hello?").conversation
    page = logged_in("alice").get("/desk/").content.decode()
    mine_section, queue_section = page.split('id="list-mine"')[1].split('id="list-queue"')
    assert f'id="conv-{mine.pk}"' in mine_section
    assert f'id="conv-{waiting.pk}"' in queue_section


def test_it_shows_the_customers_timeline(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel, text="Ma facture est fausse").conversation
    response = logged_in("alice").get(f"/desk/conversations/{conversation.pk}/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "Ma facture est fausse" in body
    assert '<label for="reply-text">Reply</label>' in body
    assert "<html" not in body


def test_it_posts_a_reply_and_returns_it_as_a_timeline_item(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    response = logged_in("alice").post(
        f"/desk/conversations/{conversation.pk}/reply/", {"text": "Je regarde ça"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    reply = Interaction.objects.get(direction="out")
    assert reply.author == alice and reply.text == "Je regarde ça"
    assert f'id="interaction-{reply.pk}"' in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None


def test_it_explains_why_an_empty_reply_is_refused(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    response = logged_in("alice").post(
        f"/desk/conversations/{conversation.pk}/reply/", {"text": "  "}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer"
    assert "A message cannot be empty." in response.content.decode()
    assert not Interaction.objects.filter(direction="out").exists()


def test_it_switches_presence(alice: Any) -> None:
    response = logged_in("alice").post("/desk/presence/", {"presence": "away"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert AgentProfile.objects.get(user=alice).presence == "away"
    assert 'value="away" checked' in response.content.decode()


def test_it_resolves_a_conversation(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    response = logged_in("alice").post(
        f"/desk/conversations/{conversation.pk}/resolve/", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert Conversation.objects.get(pk=conversation.pk).status == "resolved"


def test_it_renders_the_desk_in_french(alice: Any) -> None:
    client = logged_in("alice")
    page = client.get("/desk/", headers={"Accept-Language": "fr"}).content.decode()
    assert "Disponible" in page
    assert "File d’attente" in page or "File d'attente" in page


def test_it_shows_the_customer_panel_beside_the_conversation(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    body = logged_in("alice").get(f"/desk/conversations/{conversation.pk}/", headers={"HX-Request": "true"}).content
    page = body.decode()
    panel = page.split('aria-labelledby="customer-panel-heading"')[1]
    assert "Website visitor" in panel
    assert conversation.customer.identities.get().address in panel
    assert "Website chat: 1" in panel
    assert f"#{conversation.pk}" in panel
