"""One interaction lookup, one supervisor guard, one error body: the desk and the API answer alike.

Alice is an agent of the Support team (Carla chats with it), Oscar an agent of Billing, Sophie a supervisor.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.models import Customer
from interactions import selectors, services
from interactions.models import CaseChange, Channel, Interaction
from tests.clients import logged_in


def api_for(user: Any) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def carla_writes(carla: Customer, chat_channel: Channel) -> Interaction:
    with transaction.atomic():
        return services.receive_message(customer=carla, channel=chat_channel, external_id="c-1", text="Ma facture")


@pytest.fixture
def alices_note(alice: Any, carla_writes: Interaction) -> Interaction:
    return Interaction.objects.create(
        conversation=carla_writes.conversation,
        customer=carla_writes.customer,
        channel=carla_writes.channel,
        kind=Interaction.Kind.NOTE,
        author=alice,
        text="Client fâché",
    )


def test_it_finds_an_entry_for_its_team_and_for_a_supervisor(alice: Any, sophie: Any, alices_note: Interaction) -> None:
    assert selectors.get_interaction_for_action(alice, alices_note.pk) == alices_note
    assert selectors.get_interaction_for_action(sophie, alices_note.pk) == alices_note


def test_it_hides_another_teams_note_as_if_it_did_not_exist(oscar: Any, alices_note: Interaction) -> None:
    with pytest.raises(Http404):
        selectors.get_interaction_for_agent(oscar, alices_note.pk)
    with pytest.raises(Http404):
        selectors.get_interaction_for_agent(oscar, 999_999)


def test_it_shows_another_teams_message_but_refuses_to_act_on_it(oscar: Any, carla_writes: Interaction) -> None:
    assert selectors.get_interaction_for_agent(oscar, carla_writes.pk) == carla_writes
    with pytest.raises(PermissionDenied):
        selectors.get_interaction_for_action(oscar, carla_writes.pk)


def test_it_refuses_a_split_on_the_desk_and_in_the_api_for_the_same_reason(
    alice: Any, carla_writes: Interaction
) -> None:
    desk = logged_in("alice").post(f"/desk/entries/{carla_writes.pk}/split/", HTTP_HX_REQUEST="true")
    api = api_for(alice).post(f"/api/entries/{carla_writes.pk}/split/")

    assert (desk.status_code, api.status_code) == (422, 400)
    body = api.json()
    assert set(body) == {"detail", "code", "fields"} and body["fields"] == {}
    assert body["detail"] == desk.content.decode()
    assert "only message" in body["detail"]
    assert not CaseChange.objects.exists()


def test_it_answers_another_teams_split_with_403_and_an_unknown_entry_with_404(
    oscar: Any, carla_writes: Interaction
) -> None:
    client = api_for(oscar)
    assert client.post(f"/api/entries/{carla_writes.pk}/split/").status_code == 403
    assert client.post("/api/entries/999999/split/").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("get", "/desk/supervisor/"), ("post", "/desk/takes-work/")])
def test_it_keeps_the_supervisor_pages_to_supervisors(alice: Any, sophie: Any, method: str, path: str) -> None:
    assert getattr(logged_in("alice"), method)(path).status_code == 403
    assert getattr(logged_in("sophie"), method)(path).status_code in (200, 302)
