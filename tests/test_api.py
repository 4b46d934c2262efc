"""The REST API applies the same access rule and the same services as the desk."""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from interactions.models import Channel, Interaction
from routing.models import Queue
from tests.factories import widget_message


def api_for(user: Any) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_it_lists_the_conversations_an_agent_may_open(
    alice: Any, oscar: Any, fiona: Any, chat_channel: Channel, fraud_queue: Queue
) -> None:
    """Issue 11 changed this test (it was: another team's agent sees nothing, 404): every active agent may open a
    non-confidential conversation read-only; a confidential queue's stay hidden from non-members."""
    conversation = widget_message(chat_channel).conversation
    fraud_channel = Channel.objects.create(kind=Channel.Kind.CHAT, name="Fraud line", queue=fraud_queue)
    secret = widget_message(fraud_channel).conversation
    assert [c["id"] for c in api_for(alice).get("/api/conversations/").json()["results"]] == [conversation.pk]
    assert [c["id"] for c in api_for(oscar).get("/api/conversations/").json()["results"]] == [conversation.pk]
    assert [c["id"] for c in api_for(fiona).get("/api/conversations/").json()["results"]] == [
        secret.pk,
        conversation.pk,
    ]
    detail = api_for(oscar).get(f"/api/conversations/{conversation.pk}/")
    assert detail.status_code == 200
    assert detail.json()["may_act"] is False
    assert api_for(oscar).get(f"/api/conversations/{secret.pk}/").status_code == 404


def test_it_replies_through_the_api(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    response = api_for(alice).post(f"/api/conversations/{conversation.pk}/reply/", {"text": "Bonjour !"}, format="json")
    assert response.status_code == 201
    assert response.json()["text"] == "Bonjour !"
    assert Interaction.objects.get(direction="out").author == alice
    timeline = api_for(alice).get(f"/api/conversations/{conversation.pk}/").json()["timeline"]
    assert [item["text"] for item in timeline] == ["Bonjour !", "Bonjour"]


def test_it_explains_a_refused_reply(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    response = api_for(alice).post(f"/api/conversations/{conversation.pk}/reply/", {"text": " "}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "A message cannot be empty.", "code": "empty_message", "fields": {}}


def test_it_refuses_an_agent_of_another_team_to_reply_or_resolve(oscar: Any, chat_channel: Channel) -> None:
    """Issue 11 changed this test: 403 (the conversation may be read by every agent), was 404."""
    conversation = widget_message(chat_channel).conversation
    client = api_for(oscar)
    assert client.post(f"/api/conversations/{conversation.pk}/reply/", {"text": "hi"}, format="json").status_code == 403
    assert client.post(f"/api/conversations/{conversation.pk}/resolve/").status_code == 403
    assert not Interaction.objects.filter(direction="out").exists()


def test_it_requires_authentication(db: None) -> None:
    assert APIClient().get("/api/conversations/").status_code in (401, 403)
