"""Presence follows the desk, supervisors take routed work only when they choose to, and the board hides no work."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import reverse

from interactions.models import Channel, Conversation
from omnidesk import embedded_beat
from routing import agents
from routing.models import AgentProfile, Queue
from routing.selectors import supervisor_overview
from routing.services import set_presence, socket_connected
from tests.conftest import make_user


def test_it_makes_an_offline_agent_available_when_their_desk_connects_and_routes_waiting_work(
    alice: Any, chat_channel: Channel, arrive: Any
) -> None:
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.OFFLINE)
    waiting = arrive(chat_channel)
    assert waiting.assignee is None
    socket_connected(user=alice)
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.AVAILABLE
    assert Conversation.objects.get(pk=waiting.pk).assignee == alice


def test_it_leaves_an_agent_who_chose_away_away_when_their_desk_connects(alice: Any) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    socket_connected(user=alice)
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.AWAY


def test_it_routes_to_a_supervisor_only_once_they_choose_to_take_work(
    support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    sophie = make_user("sophie", role=AgentProfile.Role.SUPERVISOR, queues=[support_queue])
    agents.set_takes_work(user=sophie, takes_work=False)
    waiting = arrive(chat_channel)
    assert Conversation.objects.get(pk=waiting.pk).assignee is None
    agents.set_takes_work(user=sophie, takes_work=True)
    assert Conversation.objects.get(pk=waiting.pk).assignee == sophie


def test_it_shows_on_the_board_anyone_who_holds_work_and_no_idle_watcher(
    support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    sophie = make_user("sophie", role=AgentProfile.Role.SUPERVISOR, queues=[support_queue])
    watcher = make_user("victor", role=AgentProfile.Role.SUPERVISOR, queues=[support_queue])
    agents.set_takes_work(user=watcher, takes_work=False)
    held = arrive(chat_channel)
    assert held.assignee == sophie
    # She stops taking new work but still holds this conversation: the board must keep showing her.
    agents.set_takes_work(user=sophie, takes_work=False)
    listed = {profile.user.username for profile in supervisor_overview()["agents"]}
    assert "sophie" in listed and "victor" not in listed


def test_it_lets_a_supervisor_switch_taking_work_from_the_desk_and_the_api(sophie: Any) -> None:
    client = Client()
    client.force_login(sophie)
    answer = client.post(reverse("desk:takes-work"), {}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and b'name="takes_work"' in answer.content
    assert AgentProfile.objects.get(user=sophie).takes_work is False
    answer = client.post(reverse("api:my-takes-work"), {"takes_work": True}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["takes_work"] is True
    assert AgentProfile.objects.get(user=sophie).takes_work is True


def test_it_schedules_every_periodic_task_in_process_only_in_the_embedded_server() -> None:
    names = set(embedded_beat.schedule_entries())
    assert {
        "sweep-inbound-events",
        "sweep-sla",
        "wake-snoozed-conversations",
        "sweep-routing",
        "route-due-callbacks",
        "poll-mailboxes",
    } <= names
    # Never inside a test process (pytest drives the periodic work itself), never with a broker.
    assert embedded_beat.should_run() is False
    assert settings.REDIS_URL


def test_it_runs_a_periodic_entry_through_its_task_function(db: None) -> None:
    assert embedded_beat.run_entry("routing.schedule.sweep_sla_task") == {"warned": 0, "breached": 0, "escalated": 0}
