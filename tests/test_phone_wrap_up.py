"""After the call: the call in the desk's timeline, the agent's wrap-up with a disposition, and the supervisors' view of
who is ringing, on a call or wrapping up."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from customers.models import Customer
from interactions.models import Channel, Conversation
from interactions.phone import selectors
from interactions.phone.models import Call, Disposition
from tests.clients import logged_in
from tests.phone_factories import CARLA_PHONE, give_phone, send_event


@pytest.fixture
def dispositions(db: None) -> list[Disposition]:
    return [
        Disposition.objects.create(code="resolved", label="Resolved on the call", position=1),
        Disposition.objects.create(code="escalated", label="Escalated", position=2),
    ]


def answered_and_hung_up(hotline: Channel, call_id: str = "w-1") -> Call:
    send_event(hotline, "ringing", call_id, caller=CARLA_PHONE, agent="alice")
    send_event(hotline, "answered", call_id, agent="alice")
    return send_event(hotline, "hangup", call_id)


def test_it_shows_each_agents_call_state_to_supervisors(alice: Any, sophie: Any, hotline: Channel) -> None:
    send_event(hotline, "ringing", "w-2", caller=CARLA_PHONE, agent="alice")
    assert selectors.agent_call_states() == {alice.pk: "ringing"}
    send_event(hotline, "answered", "w-2", agent="alice")
    assert selectors.agent_call_states() == {alice.pk: "on_call"}
    send_event(hotline, "hangup", "w-2")
    assert selectors.agent_call_states() == {alice.pk: "wrap_up"}
    response = logged_in("sophie").get("/api/calls/agent-states/")
    assert response.status_code == 200 and response.json() == {"states": {str(alice.pk): "wrap_up"}}


def test_it_keeps_the_agents_call_states_from_other_agents(alice: Any, hotline: Channel) -> None:
    assert logged_in("alice").get("/api/calls/agent-states/").status_code == 403


def test_it_ends_after_call_work_with_a_disposition_and_frees_the_agent(
    alice: Any, carla: Customer, hotline: Channel, dispositions: list[Disposition]
) -> None:
    give_phone(carla)
    call = answered_and_hung_up(hotline)
    conversation = Conversation.objects.get(calls=call)
    assert conversation.assignee == alice and conversation.status == Conversation.Status.OPEN

    response = logged_in("alice").post(
        f"/phone/calls/{call.pk}/wrap-up/",
        {"disposition": "escalated", "notes": "Wants a refund"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert "Escalated" in response.content.decode() and "Wants a refund" in response.content.decode()
    call.refresh_from_db()
    assert call.state == Call.State.ENDED and call.disposition == dispositions[1]
    assert call.interaction is not None
    meta = call.interaction.meta
    assert meta["disposition"] == "escalated" and meta["notes"] == "Wants a refund"
    assert meta["after_call_work_seconds"] is not None and meta["after_call_work_seconds"] >= 0
    assert Conversation.objects.get(pk=conversation.pk).status == Conversation.Status.RESOLVED
    assert selectors.agent_call_states() == {}


def test_it_asks_for_a_disposition_from_the_list(alice: Any, hotline: Channel, dispositions: list[Disposition]) -> None:
    call = answered_and_hung_up(hotline)
    response = logged_in("alice").post(
        f"/phone/calls/{call.pk}/wrap-up/", {"disposition": "made-up"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "Pick one of the disposition codes." in response.content.decode()
    assert Call.objects.get(pk=call.pk).state == Call.State.WRAP_UP


def test_it_wraps_up_through_the_api(alice: Any, hotline: Channel, dispositions: list[Disposition]) -> None:
    call = answered_and_hung_up(hotline)
    client = Client()
    client.force_login(alice)
    response = client.post(
        f"/api/calls/{call.pk}/wrap-up/", {"disposition": "resolved"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["state"] == "ended"
    again = client.post(f"/api/calls/{call.pk}/wrap-up/", {"disposition": "resolved"}, content_type="application/json")
    assert again.status_code == 400 and again.json()["code"] == "not_in_wrap_up"


def test_it_refuses_the_calls_actions_to_an_agent_of_another_team(alice: Any, oscar: Any, hotline: Channel) -> None:
    """Issue 11 changed this test: the call may be read by every agent (its conversation opens read-only), so its
    actions answer 403 (was 404); wrap-up, notes and link stay the call's agent's and supervisors'."""
    call = answered_and_hung_up(hotline)
    assert logged_in("oscar").post(f"/phone/calls/{call.pk}/wrap-up/", {"disposition": ""}).status_code == 403
    assert logged_in("oscar").post(f"/api/calls/{call.pk}/notes/", {"notes": "x"}).status_code == 403
    assert logged_in("oscar").post(f"/api/calls/{call.pk}/link/", {"confirm": True}).status_code == 403
    call.refresh_from_db()
    assert call.notes == "" and call.wrap_up_ended_at is None


def test_it_shows_the_call_and_its_wrap_up_form_in_the_desk_timeline(
    alice: Any, hotline: Channel, dispositions: list[Disposition]
) -> None:
    call = answered_and_hung_up(hotline)
    page = logged_in("alice").get(f"/desk/conversations/{call.conversation_id}/").content.decode()
    assert "Inbound call · Answered" in page
    assert 'aria-label="Wrap-up"' in page and "Resolved on the call" in page
    assert '<label for="disposition-' in page


def test_it_names_an_unknown_caller_from_the_pops_form(alice: Any, hotline: Channel) -> None:
    call = send_event(hotline, "ringing", "w-3", caller="0698765432", agent="alice")
    assert call.caller_was_unknown
    response = logged_in("alice").post(f"/phone/calls/{call.pk}/caller/", {"name": "Jeanne Martin"})
    assert response.status_code == 200
    assert Customer.objects.get(calls=call).display_name == "Jeanne Martin"
    refused = logged_in("alice").post(f"/phone/calls/{call.pk}/caller/", {"name": "  "})
    assert refused.status_code == 422 and "Enter the caller" in refused.content.decode()
