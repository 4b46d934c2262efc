"""Issue 11's visibility findings, each closed: the story of Alice (Support), Oscar (Billing), Fiona (the
confidential Fraud team), Sophie (supervisor), Stan (staff, not a supervisor) and Dora (deactivated).

The world (tests/vis_support.py): Support's customer wrote MESSAGE_TEXT; Alice left an internal note (NOTE_TEXT) and
call notes (CALL_NOTES); the same customer also has a Fraud case (FRAUD_MESSAGE_TEXT, with a Fraud note).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from rest_framework.test import APIClient

from customers.models import Customer, Organization
from interactions import access, selectors, services
from interactions.models import Channel, Interaction
from interactions.phone import screen_pop
from interactions.phone.models import Call, Callback
from routing.models import AgentProfile, Queue
from tests.conftest import make_user
from tests.vis_support import (
    CALL_NOTES,
    FRAUD_MESSAGE_TEXT,
    MESSAGE_TEXT,
    NOTE_TEXT,
    World,
    world_fixture,  # noqa: F401 - the `world` fixture
)

pytestmark = pytest.mark.django_db
SECRETS = (NOTE_TEXT, CALL_NOTES, FRAUD_MESSAGE_TEXT, "CONFIDENTIAL-fraud")


def desk(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def assert_no_secret(body: str) -> None:
    for secret in SECRETS:
        assert secret not in body, f"{secret!r} leaked"


# --- High 1: one rule everywhere: another team's agent sees messages, never notes ---


def test_it_shows_another_teams_agent_the_messages_but_no_note_on_the_360_page(world: World, oscar: Any) -> None:
    body = desk(oscar).get(f"/customers/{world.support.customer.pk}/").content.decode()
    assert MESSAGE_TEXT in body
    assert_no_secret(body)


def test_it_shows_another_teams_agent_the_messages_but_no_note_in_the_timeline_api(world: World, oscar: Any) -> None:
    entries = api(oscar).get(f"/api/customers/{world.support.customer.pk}/timeline/").json()["results"]
    texts = [entry["text"] for entry in entries]
    assert MESSAGE_TEXT in texts
    assert "note" not in {entry["kind"] for entry in entries}
    assert_no_secret(str(entries))


def test_it_opens_another_teams_conversation_read_only_in_the_api(world: World, oscar: Any) -> None:
    response = api(oscar).get(f"/api/conversations/{world.support.conversation.pk}/")
    assert response.status_code == 200
    data = response.json()
    assert data["may_act"] is False
    assert MESSAGE_TEXT in [entry["text"] for entry in data["timeline"]]
    assert_no_secret(str(data))


def test_it_opens_another_teams_conversation_read_only_on_the_desk(world: World, oscar: Any, alice: Any) -> None:
    page = desk(oscar).get(f"/desk/conversations/{world.support.conversation.pk}/")
    assert page.status_code == 200
    assert page.context["may_act"] is False
    assert page.context["reply_channels"] == []
    body = page.content.decode()
    assert MESSAGE_TEXT in body
    assert_no_secret(body)
    # Alice, whose team it is, sees her note; the Fraud case stays metadata for her too.
    own = desk(alice).get(f"/desk/conversations/{world.support.conversation.pk}/")
    assert own.context["may_act"] is True
    assert NOTE_TEXT in own.content.decode()
    assert FRAUD_MESSAGE_TEXT not in own.content.decode()


def test_it_finds_another_teams_messages_in_search_but_never_a_notes_text(world: World, oscar: Any) -> None:
    found = desk(oscar).get("/customers/search/", {"q": "débitée"}).content.decode()
    assert MESSAGE_TEXT in found
    for word in ("investigation", "PIN", "conjoint"):
        assert not desk(oscar).get("/customers/search/", {"q": word}).context["interactions"], word


def test_it_pops_the_callers_history_without_notes(world: World, oscar: Any, alice: Any) -> None:
    call = world.support.call
    pop = screen_pop.pop_for(call, agent=oscar)
    assert pop["customer"]["id"] == world.support.customer.pk
    assert_no_secret(str(pop))
    kinds = {entry["kind"] for entry in pop["last_interactions"]}
    assert "note" not in kinds
    # The Fraud case's newest entry is on its own chat channel: Oscar sees it as metadata only.
    redacted = [entry for entry in pop["last_interactions"] if entry["redacted"]]
    assert redacted and all(entry["text"] == "" for entry in redacted)
    supervised = screen_pop.pop_for(call, agent=world.users["sophie"])["last_interactions"]
    assert "note" in {entry["kind"] for entry in supervised}


def test_it_keeps_a_calls_notes_from_another_team_on_the_call_block(world: World, oscar: Any) -> None:
    response = desk(oscar).get(f"/phone/calls/{world.support.call.pk}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert CALL_NOTES not in response.content.decode()
    assert response.context["may_act"] is False


def test_it_hides_a_notes_attachment_from_another_team(world: World, oscar: Any, alice: Any) -> None:
    assert desk(oscar).get(f"/desk/attachments/{world.support.attachment.pk}/").status_code == 200
    assert desk(oscar).get(f"/desk/attachments/{world.support.note_attachment.pk}/").status_code == 404
    assert desk(alice).get(f"/desk/attachments/{world.support.note_attachment.pk}/").status_code == 200


# --- confidential queues: metadata only for non-members ------------------------------------------------------------


def test_it_shows_a_confidential_case_as_metadata_only_in_the_timeline(world: World, alice: Any, fiona: Any) -> None:
    entries = api(alice).get(f"/api/customers/{world.support.customer.pk}/timeline/").json()["results"]
    redacted = [entry for entry in entries if entry["redacted"]]
    assert len(redacted) == 1, "the Fraud message as metadata; the Fraud note not at all"
    assert redacted[0]["text"] == "" and redacted[0]["channel"] == "chat" and redacted[0]["at"]
    assert FRAUD_MESSAGE_TEXT not in str(entries)
    assert "fraud note on the support customer" not in str(entries)
    mine = api(fiona).get(f"/api/customers/{world.support.customer.pk}/timeline/").json()["results"]
    assert FRAUD_MESSAGE_TEXT + " (same customer)" in [entry["text"] for entry in mine]
    assert not any(entry["redacted"] for entry in mine)


def test_it_strips_a_confidential_entry_of_text_html_details_and_files(world: World, alice: Any) -> None:
    timeline = selectors.customer_timeline_for(alice, world.fraud.customer, limit=100)
    assert timeline and all(entry.redacted for entry in timeline)  # type: ignore[attr-defined]
    for entry in timeline:
        assert (entry.text, entry.html, entry.meta) == ("", "", {})
        assert list(entry.attachments.all()) == []
    # Redaction is in memory only: nothing was saved.
    assert Interaction.objects.get(pk=world.fraud.message.pk).text == FRAUD_MESSAGE_TEXT


def test_it_shows_a_confidential_case_as_metadata_only_on_the_360_page(world: World, alice: Any) -> None:
    page = desk(alice).get(f"/customers/{world.fraud.customer.pk}/")
    assert page.status_code == 200
    assert_no_secret(page.content.decode())
    assert all(item.redacted for item in page.context["timeline"])


def test_it_never_finds_a_confidential_case_by_its_text(world: World, alice: Any, fiona: Any) -> None:
    assert not desk(alice).get("/customers/search/", {"q": "conjoint"}).context["interactions"]
    assert desk(fiona).get("/customers/search/", {"q": "conjoint"}).context["interactions"]
    # The customer themself may still be looked up by every agent.
    customers = desk(alice).get("/customers/search/", {"q": "Fraud customer"}).context["customers"]
    assert [c.pk for c in customers] == [world.fraud.customer.pk]


def test_it_pops_a_confidential_case_as_metadata_only(world: World, alice: Any) -> None:
    pop = screen_pop.pop_for(world.fraud.call, agent=alice)
    assert pop["last_interactions"] and all(entry["redacted"] for entry in pop["last_interactions"])
    assert_no_secret(str(pop))
    assert pop["open_cases"] == [], "a confidential case cannot be opened, so it is not offered"


def test_it_refuses_to_open_reply_to_or_export_a_confidential_case(world: World, alice: Any) -> None:
    pk = world.fraud.conversation.pk
    assert desk(alice).get(f"/desk/conversations/{pk}/").status_code == 404
    assert api(alice).get(f"/api/conversations/{pk}/").status_code == 404
    assert desk(alice).post(f"/desk/conversations/{pk}/reply/", {"text": "hi"}).status_code == 404
    assert api(alice).post(f"/api/conversations/{pk}/reply/", {"text": "hi"}, format="json").status_code == 404
    assert desk(alice).get(f"/desk/email/{world.fraud.email_message.pk}/body/").status_code == 404
    assert desk(alice).get(f"/desk/attachments/{world.fraud.attachment.pk}/").status_code == 404
    assert desk(alice).get(f"/customers/{world.fraud.customer.pk}/export.json").status_code == 403
    assert pk not in [c["id"] for c in api(alice).get("/api/conversations/").json()["results"]]
    assert not world.fraud.conversation.interactions.filter(direction="out", kind="message").exists()


def test_it_lets_the_confidential_queues_members_and_supervisors_in(world: World, fiona: Any, sophie: Any) -> None:
    pk = world.fraud.conversation.pk
    for user in (fiona, sophie):
        body = desk(user).get(f"/desk/conversations/{pk}/").content.decode()
        assert FRAUD_MESSAGE_TEXT in body and NOTE_TEXT in body


# --- callbacks and the 409 -----------------------------------------------------------------------------------------


def test_it_never_schedules_a_callback_into_another_teams_queue(world: World, alice: Any, oscar: Any) -> None:
    for channel in (world.fraud.voice,):
        response = api(alice).post(
            "/api/callbacks/", {"number": world.fraud.phone, "channel": channel.pk}, format="json"
        )
        assert response.status_code == 403
    response = api(oscar).post("/api/callbacks/", {"number": world.support.phone}, format="json")
    assert response.status_code == 400, "Billing has no phone channel: nothing to attach anything to"
    assert not Callback.objects.filter(requested_by__in=[alice, oscar]).exists()


def test_it_schedules_a_callback_only_in_the_callers_own_queue(world: World, alice: Any) -> None:
    response = api(alice).post("/api/callbacks/", {"number": world.fraud.phone, "name": "Mallory"}, format="json")
    assert response.status_code == 201
    callback = Callback.objects.get(pk=response.json()["id"])
    assert callback.channel.queue_id == world.support.queue.pk
    # The existing customer of that number is linked (any agent may look them up), never renamed.
    assert callback.customer_id == world.fraud.customer.pk
    assert Customer.objects.get(pk=world.fraud.customer.pk).display_name == "Fraud customer"


def test_it_does_not_disclose_whose_address_a_409_is_about(world: World, oscar: Any) -> None:
    response = api(oscar).post(
        "/api/customers/",
        {"display_name": "Impostor", "identities": [{"kind": "phone", "address": world.fraud.phone}]},
        format="json",
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This address already belongs to another customer.",
        "code": "identity_taken",
        "fields": {},
    }
    assert str(world.fraud.customer.pk) not in response.content.decode()


# --- Low: supervisors, organizations, channels, calls ----------------------------------------------------------------


def test_it_does_not_count_staff_as_supervisors(world: World, stan: Any, sophie: Any) -> None:
    assert not access.is_supervisor(stan)
    assert access.is_supervisor(sophie)
    assert desk(stan).get("/desk/supervisor/").status_code == 403
    assert api(stan).get("/api/calls/agent-states/").status_code == 403
    assert not access.may_see_notes(stan, world.support.conversation)
    superuser = make_user("root", is_staff=True, is_superuser=True)
    assert not access.is_supervisor(superuser)
    assert desk(superuser).get("/desk/supervisor/").status_code == 403


def test_it_lets_only_supervisors_edit_organizations(world: World, alice: Any, stan: Any, sophie: Any) -> None:
    url = f"/api/organizations/{world.organization.pk}/"
    for user in (alice, stan):
        assert api(user).patch(url, {"name": "x"}, format="json").status_code == 403
        assert api(user).post("/api/organizations/", {"name": "y"}, format="json").status_code == 403
    assert api(sophie).patch(url, {"name": "Acme SA"}, format="json").status_code == 200
    assert list(Organization.objects.values_list("name", flat=True)) == ["Acme SA"]


def test_it_refuses_a_reply_through_another_teams_channel(world: World, alice: Any) -> None:
    billing_sms = Channel.objects.create(kind=Channel.Kind.SMS, name="Billing SMS", queue=world.billing_queue)
    conversation = world.support.conversation
    url = f"/api/conversations/{conversation.pk}/reply/"
    pk = conversation.pk
    assert billing_sms not in selectors.reply_channels(conversation, alice)
    response = api(alice).post(url, {"text": "hi", "channel": billing_sms.pk}, format="json")
    assert response.status_code == 400
    page = desk(alice).post(f"/desk/conversations/{pk}/reply/", {"text": "hi", "channel": billing_sms.pk})
    assert page.status_code == 422
    with pytest.raises(PermissionDenied):
        services.reply_to_conversation(conversation=conversation, author=alice, text="hi", channel=billing_sms)
    assert not Interaction.objects.filter(channel=billing_sms).exists()
    # Her own team's email channel is fine.
    response = api(alice).post(url, {"text": "ok", "channel": world.support.email.pk}, format="json")
    assert response.status_code == 201


def test_it_refuses_call_actions_to_anyone_but_the_calls_agent_and_supervisors(
    world: World, oscar: Any, sophie: Any, bruno: Any
) -> None:
    call = world.support.call  # Bruno is Alice's teammate, but not on this call
    for user in (oscar, bruno):
        assert api(user).post(f"/api/calls/{call.pk}/wrap-up/", {"disposition": ""}, format="json").status_code == 403
        assert api(user).post(f"/api/calls/{call.pk}/notes/", {"notes": "x"}, format="json").status_code == 403
        assert api(user).post(f"/api/calls/{call.pk}/link/", {"confirm": False}, format="json").status_code == 403
        assert desk(user).post(f"/phone/calls/{call.pk}/wrap-up/", {"disposition": ""}).status_code == 403
        assert desk(user).post(f"/phone/calls/{call.pk}/link/", {"decision": "unlink"}).status_code == 403
    untouched = Call.objects.get(pk=call.pk)
    assert (untouched.notes, untouched.state, untouched.link_status) == (CALL_NOTES, Call.State.WRAP_UP, "suggested")
    assert api(sophie).post(f"/api/calls/{call.pk}/notes/", {"notes": "checked"}, format="json").status_code == 200


def test_it_shows_a_deactivated_user_nothing(world: World, dora: Any) -> None:
    assert not access.is_active_agent(dora)
    assert not access.conversations_visible_to(dora).exists()
    assert access.realtime_groups_for_agent(dora) == []
    assert selectors.customer_timeline_for(dora, world.support.customer) == []
    assert desk(dora).get(f"/desk/conversations/{world.support.conversation.pk}/").status_code == 302
    profile = AgentProfile.objects.get(user=dora)
    profile.role = AgentProfile.Role.SUPERVISOR
    profile.save()
    dora.refresh_from_db()
    assert not access.is_supervisor(dora), "a deactivated supervisor is nobody"


def test_it_reads_queue_membership_afresh_for_realtime_groups(world: World, alice: Any, support_queue: Queue) -> None:
    """A long-lived socket asks again: nothing about membership is cached on the user object."""
    from omnidesk import realtime

    assert realtime.queue_group(support_queue.pk) in access.realtime_groups_for_agent(alice)
    support_queue.members.remove(alice)
    assert realtime.queue_group(support_queue.pk) not in access.realtime_groups_for_agent(alice)
    # Still the assignee of her conversations: she keeps acting on (and seeing the notes of) what is hers.
    assert access.may_see_notes(alice, world.support.conversation)
    unassigned = world.support.callback.conversation
    assert unassigned is not None and not access.may_see_notes(alice, unassigned)


def test_it_announces_a_conversation_only_to_those_who_may_see_its_notes(world: World, oscar: Any) -> None:
    audience = set(access.audience_for_conversation(world.fraud.conversation))
    assert not audience & set(access.realtime_groups_for_agent(oscar))
    assert not audience & set(access.realtime_groups_for_agent(world.users["alice"]))
    assert audience & set(access.realtime_groups_for_agent(world.users["fiona"]))
