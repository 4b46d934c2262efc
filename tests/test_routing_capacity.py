"""Capacity blending in units (routing/capacity.py): a call fills the agent, a chat takes a third, an email a fifth."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from interactions import services
from interactions.models import Channel
from routing import capacity, engine
from routing.agents import set_capacity_units
from routing.models import AgentProfile, Offer, Queue
from routing.services import route_queue, set_presence
from tests.conftest import PASSWORD


def profile_of(user: Any) -> AgentProfile:
    return AgentProfile.objects.get(user=user)


def test_it_gives_no_chat_to_an_agent_on_a_call(
    alice: Any, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    call = arrive(hotline)
    assert call.assignee == alice
    chat = arrive(chat_channel)
    assert chat.assignee is None
    chat.routing_item.refresh_from_db()
    assert chat.routing_item.reason.startswith("all capable agents are full")
    assert engine.classes_with_room(profile_of(alice)) == []
    assert profile_of(alice).is_busy and profile_of(alice).full_classes == ["voice", "chat", "email"]


def test_it_gives_the_waiting_chat_once_the_call_ends(
    alice: Any, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    call = arrive(hotline)
    chat = arrive(chat_channel)
    services.resolve_conversation(conversation=call, by=alice)
    chat.refresh_from_db()
    assert chat.assignee == alice


def test_it_gives_no_call_to_an_agent_with_a_chat(
    alice: Any, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    assert arrive(chat_channel).assignee == alice
    assert arrive(hotline).assignee is None
    # Room for chats and emails is left: not shown as busy although no call fits beside the chat.
    assert not profile_of(alice).is_busy


def test_it_mixes_chats_and_emails_up_to_the_units(
    alice: Any, chat_channel: Channel, email_channel: Channel, arrive: Any
) -> None:
    # 15 units: two chats (10) and one email (3) fit; a second email (16) does not, nor a third chat.
    assert [arrive(chat_channel).assignee for _ in range(2)] == [alice, alice]
    assert arrive(email_channel).assignee == alice
    assert arrive(email_channel).assignee is None
    assert arrive(chat_channel).assignee is None
    profile = profile_of(alice)
    assert (profile.units_used, profile.capacity_units) == (13, 15)


def test_it_counts_a_pending_call_offer_against_the_units(
    alice: Any, support_queue: Queue, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    support_queue.mode = Queue.Mode.OFFER
    support_queue.save(update_fields=["mode"])
    call = arrive(hotline)
    assert Offer.objects.filter(item__conversation=call, agent=alice, state=Offer.State.PENDING).exists()
    chat = arrive(chat_channel)
    assert not Offer.objects.filter(item__conversation=chat).exists()
    assert profile_of(alice).units_used == 15


def test_it_keeps_the_per_class_limits_alone_when_blending_is_off(
    alice: Any, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    set_capacity_units(user=alice, total=None)
    assert arrive(hotline).assignee == alice
    assert arrive(chat_channel).assignee == alice


def test_it_lets_a_profile_take_a_chat_beside_a_call_when_its_units_allow(
    alice: Any, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    set_capacity_units(user=alice, total=20, voice=15, chat=5)
    assert arrive(hotline).assignee == alice
    assert arrive(chat_channel).assignee == alice
    assert arrive(chat_channel).assignee is None


def test_it_pulls_waiting_work_when_the_units_are_raised(
    alice: Any, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    arrive(hotline)
    chat = arrive(chat_channel)
    set_capacity_units(user=alice, total=30)
    chat.refresh_from_db()
    assert chat.assignee == alice


def test_it_skips_an_agent_on_a_call_for_another_with_room(
    alice: Any, support_queue: Queue, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    from tests.conftest import make_user

    arrive(hotline)
    set_presence(user=alice, presence=AgentProfile.Presence.AVAILABLE)
    bruno = make_user("bruno", queues=[support_queue])
    set_presence(user=bruno, presence=AgentProfile.Presence.AWAY)
    chat = arrive(chat_channel)
    set_presence(user=bruno, presence=AgentProfile.Presence.AVAILABLE)
    route_queue(queue=support_queue)
    chat.refresh_from_db()
    assert chat.assignee == bruno
    assert engine.free_classes(queue=support_queue) == {"chat", "email"}
    assert {group.room for group in engine.agent_pool(queue=support_queue)} == {frozenset({"chat", "email"})}


def test_it_agrees_in_sql_and_in_python_on_who_has_room(
    alice: Any, chat_channel: Channel, hotline: Channel, arrive: Any
) -> None:
    arrive(chat_channel)
    for capacity_class in ("chat", "voice", "email"):
        in_sql = AgentProfile.objects.filter(capacity.room_q(capacity_class), user=alice).exists()
        assert in_sql == profile_of(alice).has_room(capacity_class), capacity_class
    assert capacity.classes_with_room(profile_of(alice)) == ["chat", "email"]


def test_it_refuses_units_out_of_range(alice: Any) -> None:
    for bad in (-1, 1001, True, "15"):
        with pytest.raises(ValidationError):
            set_capacity_units(user=alice, total=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        set_capacity_units(user=alice, total=15, chat=2000)
    assert profile_of(alice).capacity_units == 15


def test_it_shows_units_used_and_total_on_the_supervisors_agent_table(
    alice: Any, sophie: Any, chat_channel: Channel, arrive: Any
) -> None:
    arrive(chat_channel)
    set_capacity_units(user=sophie, total=None)
    client = Client()
    client.login(username="sophie", password=PASSWORD)
    html = client.get("/desk/supervisor/").content.decode()
    assert "Units used" in html
    row = html.split(f'data-agent="{alice.pk}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num" data-label="units">5/15</td>' in row


def test_it_keeps_existing_profiles_unblended_through_the_migration() -> None:
    from django.db import migrations
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None)
    state = loader.project_state(("routing", "0008_agentprofile_capacity_units"))
    migration = loader.get_migration("routing", "0008_agentprofile_capacity_units")
    added = migration.operations[0]
    assert isinstance(added, migrations.AddField)
    assert added.name == "capacity_units" and added.field.default is None
    assert state.models["routing", "agentprofile"].fields["capacity_units"].default == 15
