"""The routing REST API: queues, skills, agents, presence, capacity, intents, EWT, offers, transfer."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from interactions.models import Channel, Conversation
from routing.models import AgentProfile, Intent, IntentCorrection, Offer, Queue, Skill


def api_for(user: Any) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_it_lists_only_the_queues_an_agent_can_see(alice: Any, sophie: Any, billing_queue: Queue) -> None:
    assert [q["name"] for q in api_for(alice).get("/api/queues/").json()] == ["Support"]
    assert [q["name"] for q in api_for(sophie).get("/api/queues/").json()] == ["Billing", "Support"]


def test_it_estimates_the_wait_of_a_queue_per_channel_kind(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    support_queue.default_aht_seconds = 240
    support_queue.save()
    for _ in range(4):
        arrive(chat_channel)  # alice takes 3, one waits
    body = api_for(alice).get(f"/api/queues/{support_queue.pk}/ewt/?channel_kind=chat").json()
    assert (body["position"], body["agents"], body["free_slots"], body["aht_seconds"]) == (2, 1, 0, 240.0)
    assert body["ewt_seconds"] > 0
    email = api_for(alice).get(f"/api/queues/{support_queue.pk}/ewt/?channel_kind=email").json()
    assert (email["position"], email["free_slots"], email["ewt_seconds"]) == (1, 5, 0.0)


def test_it_says_nobody_can_take_it_when_no_agent_is_available(alice: Any, support_queue: Queue) -> None:
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    assert api_for(alice).get(f"/api/queues/{support_queue.pk}/ewt/").json()["ewt_seconds"] is None


def test_it_hides_the_ewt_of_another_teams_queue_and_refuses_unknown_kinds(
    alice: Any, support_queue: Queue, billing_queue: Queue
) -> None:
    assert api_for(alice).get(f"/api/queues/{billing_queue.pk}/ewt/").status_code == 404
    response = api_for(alice).get(f"/api/queues/{support_queue.pk}/ewt/?channel_kind=pigeon")
    assert response.status_code == 400


def test_it_lets_an_agent_change_their_presence(alice: Any) -> None:
    response = api_for(alice).post("/api/agents/me/presence/", {"presence": "away"}, format="json")
    assert response.status_code == 200
    assert response.json()["presence"] == "away"


def test_it_lets_only_supervisors_list_agents_and_set_capacity_and_skills(alice: Any, sophie: Any) -> None:
    Skill.objects.create(name="French")
    assert api_for(alice).get("/api/agents/").status_code == 403
    assert api_for(alice).post(f"/api/agents/{alice.pk}/capacity/", {"chat": 5}, format="json").status_code == 403
    supervisor = api_for(sophie)
    assert supervisor.post(f"/api/agents/{alice.pk}/capacity/", {"chat": 5}, format="json").json()["chat_capacity"] == 5
    skills = supervisor.post(f"/api/agents/{alice.pk}/skills/", {"skills": {"French": 4}}, format="json").json()
    assert skills["skills"] == {"French": 4}
    assert {a["username"] for a in supervisor.get("/api/agents/").json()} == {"alice", "sophie"}


def test_it_answers_a_clear_error_for_bad_capacity_or_unknown_skill(alice: Any, sophie: Any) -> None:
    supervisor = api_for(sophie)
    response = supervisor.post(f"/api/agents/{alice.pk}/capacity/", {"chat": -2}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_capacity")
    response = supervisor.post(f"/api/agents/{alice.pk}/skills/", {"skills": {"Klingon": 3}}, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, "Unknown skill: Klingon.")
    assert AgentProfile.objects.get(user=alice).chat_capacity == 3


def test_it_accepts_and_declines_offers_of_the_agent_only(
    alice: Any, oscar: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    support_queue.mode = Queue.Mode.OFFER
    support_queue.save()
    conversation = arrive(chat_channel)
    offer = Offer.objects.get(item__conversation=conversation)
    assert api_for(oscar).post(f"/api/offers/{offer.pk}/accept/").status_code == 404
    response = api_for(alice).post(f"/api/offers/{offer.pk}/accept/")
    assert (response.status_code, response.json()["state"]) == (200, "accepted")
    assert Conversation.objects.get(pk=conversation.pk).assignee == alice
    again = api_for(alice).post(f"/api/offers/{offer.pk}/accept/")
    assert (again.status_code, again.json()["code"]) == (400, "offer_expired")


def test_it_transfers_through_the_api_and_refuses_an_invisible_queue(
    alice: Any, bruno: Any, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    url = f"/api/conversations/{conversation.pk}/transfer/"
    refused = api_for(alice).post(url, {"queue": billing_queue.pk, "note": "?"}, format="json")
    assert refused.status_code == 403
    other = bruno if conversation.assignee == alice else alice
    response = api_for(conversation.assignee).post(url, {"agent": other.pk, "note": "Pour toi"}, format="json")
    assert response.status_code == 201
    assert Conversation.objects.get(pk=conversation.pk).assignee == other


def test_it_lists_intents_and_stores_an_agents_correction(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    Intent.objects.create(key="billing", name="Billing", keywords=["facture"], queue=support_queue)
    conversation = arrive(chat_channel, text="Bonjour")
    assert [i["key"] for i in api_for(alice).get("/api/intents/").json()] == ["billing"]
    response = api_for(alice).post(f"/api/conversations/{conversation.pk}/intent/", {"intent": "billing"})
    assert response.status_code == 200
    correction = IntentCorrection.objects.get(conversation=conversation)
    assert (correction.corrected.key, correction.text, correction.by) == ("billing", "Bonjour", alice)


@pytest.mark.parametrize(
    "path", ["/api/queues/{id}/ewt/", "/api/offers/{id}/accept/", "/api/conversations/{id}/transfer/", "/api/agents/"]
)
def test_it_documents_the_routing_operations_in_the_schema(alice: Any, path: str) -> None:
    assert path in api_for(alice).get("/api/schema/").content.decode()


def test_it_lets_an_agent_correct_the_intent_from_the_desk(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    from django.test import Client

    Intent.objects.create(key="delivery", name="Delivery")
    conversation = arrive(chat_channel, text="Où est mon colis ?")
    desk = Client()
    desk.force_login(alice)
    page = desk.get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert "Correct intent" in page and "Transfer" in page
    response = desk.post(f"/desk/conversations/{conversation.pk}/intent/", {"intent": "delivery"})
    assert response.status_code == 302
    assert IntentCorrection.objects.get(conversation=conversation).corrected.key == "delivery"
