"""SLA clocks on real conversations: business-time due times, pauses, warnings and breaches pushed once, escalation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from customers.models import Customer
from interactions import services
from interactions.models import Channel, Conversation
from omnidesk import realtime
from omnidesk.celery import app as celery_app
from routing import sla
from routing.business_time import add_business_time
from routing.models import Queue
from tests.clients import logged_in
from tests.events import groups_of, published_events
from tests.factories import widget_message
from tests.test_consumers import desk_for

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
OFFICE = {str(day): [["09:00", "18:00"]] for day in range(5)}  # Monday–Friday, 9:00–18:00


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def with_targets(
    queue: Queue, *, hours: dict[str, Any] | None = None, holidays: list[str] | None = None, **targets: int | None
) -> Queue:
    queue.business_hours = hours if hours is not None else {}
    queue.holidays = holidays or []
    queue.sla_first_response_minutes = targets.get("first", 240)
    queue.sla_next_response_minutes = targets.get("next", 60)
    queue.sla_resolution_minutes = targets.get("resolution", 1080)
    queue.save()
    return queue


def case_of(customer: Customer, channel: Channel, *, assignee: Any = None) -> Conversation:
    return Conversation.objects.create(customer=customer, channel=channel, queue=channel.queue, assignee=assignee)


# --- due times ----------------------------------------------------------------------------------------------------


def test_it_sets_due_times_in_business_time_across_a_weekend(
    support_queue: Queue, chat_channel: Channel, carla: Customer
) -> None:
    with_targets(support_queue, hours=OFFICE)
    conversation = case_of(carla, chat_channel)
    sla.start_sla_clocks(conversation=conversation, now=paris(2026, 12, 4, 17, 30))  # a Friday
    conversation.refresh_from_db()
    assert conversation.first_response_due_at == paris(2026, 12, 7, 12, 30)  # 4 h: Monday 12:30
    assert conversation.resolution_due_at == paris(2026, 12, 8, 17, 30)  # 18 h: Tuesday 17:30


def test_it_skips_a_holiday_in_due_times(support_queue: Queue, chat_channel: Channel, carla: Customer) -> None:
    with_targets(support_queue, hours=OFFICE, holidays=["2026-12-07"])
    conversation = case_of(carla, chat_channel)
    sla.start_sla_clocks(conversation=conversation, now=paris(2026, 12, 4, 17, 30))
    conversation.refresh_from_db()
    assert conversation.first_response_due_at == paris(2026, 12, 8, 12, 30)


def test_it_starts_the_clocks_when_a_first_message_opens_a_conversation(
    support_queue: Queue, chat_channel: Channel
) -> None:
    with_targets(support_queue, hours=OFFICE)
    calendar = sla.calendar_for(support_queue)
    before = timezone.now()
    conversation = widget_message(chat_channel, text="Ma facture est fausse").conversation
    after = timezone.now()
    conversation.refresh_from_db()
    target = timedelta(minutes=240)
    due = conversation.first_response_due_at
    assert due is not None
    assert add_business_time(calendar, before, target) <= due <= add_business_time(calendar, after, target)
    assert conversation.resolution_due_at is not None
    assert conversation.next_response_due_at is None


def test_it_runs_the_next_response_clock_from_a_customer_message_to_the_agent_reply(
    support_queue: Queue, chat_channel: Channel, alice: Any
) -> None:
    with_targets(support_queue)
    first = widget_message(chat_channel, visitor="carla-visitor", text="Bonjour")
    conversation = first.conversation
    services.reply_to_conversation(conversation=conversation, author=alice, text="Bonjour, je regarde.")
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None
    assert conversation.next_response_due_at is None
    assert [clock.name for clock in sla.running_clocks(conversation)] == ["resolution"]

    before = timezone.now()
    widget_message(chat_channel, visitor="carla-visitor", text="Alors ?")
    conversation.refresh_from_db()
    assert conversation.next_response_due_at is not None
    assert conversation.next_response_due_at - before >= timedelta(minutes=60)
    assert conversation.next_response_due_at - before < timedelta(minutes=61)

    services.reply_to_conversation(conversation=conversation, author=alice, text="C'est corrigé.")
    conversation.refresh_from_db()
    assert conversation.next_response_due_at is None


def test_it_sets_no_clock_when_the_queue_has_no_targets(chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    conversation.refresh_from_db()
    assert (conversation.first_response_due_at, conversation.resolution_due_at) == (None, None)
    assert sla.sla_state(conversation).clock is None
    assert sla.sweep_sla(now=timezone.now() + timedelta(days=30)).breached == []


def test_it_stops_every_clock_on_resolution(support_queue: Queue, chat_channel: Channel, alice: Any) -> None:
    with_targets(support_queue)
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    services.resolve_conversation(conversation=conversation, by=alice)
    conversation.refresh_from_db()
    assert sla.running_clocks(conversation) == []
    assert sla.sweep_sla(now=timezone.now() + timedelta(days=30)).breached == []


# --- pauses -------------------------------------------------------------------------------------------------------


def test_it_pushes_due_times_back_by_the_business_time_spent_paused(
    support_queue: Queue, chat_channel: Channel, carla: Customer
) -> None:
    with_targets(support_queue, hours=OFFICE)
    conversation = case_of(carla, chat_channel)
    sla.start_sla_clocks(conversation=conversation, now=paris(2026, 12, 7, 10, 0))  # Monday: due 14:00
    sla.pause_sla(conversation=conversation, now=paris(2026, 12, 7, 11, 0))  # 3 h left
    sla.resume_sla(conversation=conversation, now=paris(2026, 12, 8, 11, 0))  # paused 9 business hours
    conversation.refresh_from_db()
    assert conversation.sla_paused_at is None
    assert conversation.first_response_due_at == paris(2026, 12, 8, 14, 0)
    assert conversation.resolution_due_at == paris(2026, 12, 10, 10, 0)  # was Tuesday 10:00


def test_it_charges_nothing_for_a_pause_over_a_weekend(
    support_queue: Queue, chat_channel: Channel, carla: Customer
) -> None:
    with_targets(support_queue, hours=OFFICE)
    conversation = case_of(carla, chat_channel)
    sla.start_sla_clocks(conversation=conversation, now=paris(2026, 12, 4, 17, 30))  # due Monday 12:30
    sla.pause_sla(conversation=conversation, now=paris(2026, 12, 4, 18, 0))
    sla.resume_sla(conversation=conversation, now=paris(2026, 12, 7, 9, 0))
    conversation.refresh_from_db()
    assert conversation.first_response_due_at == paris(2026, 12, 7, 12, 30)


def test_it_pauses_pending_conversations_and_resumes_them_when_reopened(
    support_queue: Queue, chat_channel: Channel, alice: Any
) -> None:
    with_targets(support_queue)
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    conversation.refresh_from_db()
    due = conversation.first_response_due_at
    assert due is not None

    services.set_conversation_status(conversation=conversation, status=Conversation.Status.PENDING, by=alice)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING and conversation.sla_paused_at is not None
    assert sla.sla_state(conversation).level == "paused"
    assert sla.sweep_sla(now=due + timedelta(hours=1)).breached == []  # paused clocks never breach

    with published_events() as published:
        services.set_conversation_status(conversation=conversation, status=Conversation.Status.OPEN, by=alice)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and conversation.sla_paused_at is None
    assert conversation.first_response_due_at is not None and conversation.first_response_due_at >= due
    reopened = published.one("conversation.status_changed", conversation=conversation)
    assert reopened.data["conversation"]["status"] == "open"


def test_it_reopens_a_pending_conversation_when_the_customer_writes(
    support_queue: Queue, chat_channel: Channel, alice: Any
) -> None:
    with_targets(support_queue)
    conversation = widget_message(chat_channel, visitor="carla-visitor", text="Bonjour").conversation
    services.reply_to_conversation(conversation=conversation, author=alice, text="Pouvez-vous m'envoyer la facture ?")
    services.set_conversation_status(conversation=conversation, status=Conversation.Status.PENDING, by=alice)
    widget_message(chat_channel, visitor="carla-visitor", text="La voici")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.sla_paused_at is None
    assert conversation.next_response_due_at is not None


def test_it_refuses_a_snooze_without_a_future_time(support_queue: Queue, chat_channel: Channel, alice: Any) -> None:
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    for until in (None, timezone.now() - timedelta(minutes=1)):
        with pytest.raises(ValidationError, match="future"):
            services.set_conversation_status(
                conversation=conversation, status=Conversation.Status.SNOOZED, by=alice, snoozed_until=until
            )
    with pytest.raises(ValidationError, match="Unknown status"):
        services.set_conversation_status(conversation=conversation, status="archived", by=alice)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and conversation.snoozed_until is None


def test_it_wakes_snoozed_conversations_when_their_time_comes(
    support_queue: Queue, chat_channel: Channel, alice: Any
) -> None:
    with_targets(support_queue)
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    until = timezone.now() + timedelta(hours=1)
    services.set_conversation_status(
        conversation=conversation, status=Conversation.Status.SNOOZED, by=alice, snoozed_until=until
    )
    assert services.wake_snoozed_conversations(now=until - timedelta(minutes=1)) == []
    assert services.wake_snoozed_conversations(now=until + timedelta(seconds=1)) == [conversation.pk]
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.snoozed_until is None and conversation.sla_paused_at is None


# --- warnings, breaches, escalation -------------------------------------------------------------------------------


def test_it_warns_then_breaches_once_each_and_escalates_once(
    support_queue: Queue, chat_channel: Channel, carla: Customer, alice: Any
) -> None:
    with_targets(support_queue, first=100, resolution=None)
    conversation = case_of(carla, chat_channel, assignee=alice)
    start = timezone.now()
    with published_events() as published:
        sla.start_sla_clocks(conversation=conversation, now=start)

        assert sla.sweep_sla(now=start + timedelta(minutes=79)).warned == []  # under 80 % of the target
        assert sla.sweep_sla(now=start + timedelta(minutes=81)).warned == [conversation.pk]
        assert sla.sweep_sla(now=start + timedelta(minutes=82)).warned == []
        breach = sla.sweep_sla(now=start + timedelta(minutes=101))
        assert (breach.breached, breach.escalated) == ([conversation.pk], [conversation.pk])
        again = sla.sweep_sla(now=start + timedelta(minutes=102))
        assert (again.warned, again.breached, again.escalated) == ([], [], [])

    [warning] = published.of_type("conversation.sla_warning", conversation=conversation)
    [breached] = published.of_type("conversation.sla_breached", conversation=conversation)
    [escalated] = published.of_type("conversation.escalated", conversation=conversation)
    assert breached.data["clocks"][0]["clock"] == "first_response"
    audience = {realtime.agent_group(alice.pk), realtime.supervisors_group(), realtime.queue_group(support_queue.pk)}
    assert groups_of(warning) == groups_of(breached) == audience
    # The badge is for everyone who sees the case (its agent too), not only the supervisors.
    assert groups_of(escalated) == audience
    conversation.refresh_from_db()
    assert conversation.priority == sla.escalation_step() == escalated.data["priority"]
    assert sla.sla_state(conversation, now=start + timedelta(minutes=102)).level == "breached"


def test_it_announces_a_later_clock_but_escalates_only_once(
    support_queue: Queue, chat_channel: Channel, carla: Customer, alice: Any
) -> None:
    with_targets(support_queue, first=30, next=30, resolution=None)
    conversation = case_of(carla, chat_channel, assignee=alice)
    start = timezone.now() - timedelta(hours=2)
    with published_events() as published:
        sla.start_sla_clocks(conversation=conversation, now=start)
        assert sla.sweep_sla(now=start + timedelta(minutes=31)).breached == [conversation.pk]
        services.reply_to_conversation(conversation=conversation, author=alice, text="Désolée pour l'attente.")
        conversation.refresh_from_db()
        sla.note_customer_message(conversation=conversation, now=timezone.now() - timedelta(minutes=45))
        result = sla.sweep_sla()
    assert (result.breached, result.escalated) == ([conversation.pk], [])
    breaches = published.of_type("conversation.sla_breached", conversation=conversation)
    clocks = [e.data["clocks"][0]["clock"] for e in breaches]
    assert clocks == ["first_response", "next_response"]
    conversation.refresh_from_db()
    assert conversation.priority == sla.escalation_step()


def test_it_runs_the_sweep_from_beat() -> None:
    schedule = celery_app.conf.beat_schedule
    assert schedule["sweep-sla"]["task"] == "routing.schedule.sweep_sla_task"
    assert schedule["wake-snoozed-conversations"]["task"] == "routing.schedule.wake_snoozed_task"
    assert schedule["sweep-sla"]["schedule"] == 30.0
    assert "routing.schedule.sweep_sla_task" in celery_app.tasks


# --- the desk and the API -----------------------------------------------------------------------------------------


def test_it_shows_the_due_times_and_a_breached_badge_on_the_desk(
    support_queue: Queue, chat_channel: Channel, carla: Customer, alice: Any
) -> None:
    with_targets(support_queue, first=30)
    conversation = case_of(carla, chat_channel, assignee=alice)
    sla.start_sla_clocks(conversation=conversation, now=timezone.now() - timedelta(hours=1))
    page = logged_in("alice").get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert '<span class="badge breached" role="status">SLA breached</span>' in page
    assert "First response due" in page and "Resolution due" in page
    assert 'data-sla-level="breached"' in page


def test_it_shows_an_at_risk_badge_near_the_due_time(
    support_queue: Queue, chat_channel: Channel, carla: Customer, alice: Any
) -> None:
    with_targets(support_queue, first=100, resolution=None)
    conversation = case_of(carla, chat_channel, assignee=alice)
    sla.start_sla_clocks(conversation=conversation, now=timezone.now() - timedelta(minutes=90))
    page = logged_in("alice").get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert '<span class="badge at-risk" role="status">SLA at risk</span>' in page
    assert 'data-sla-level="at_risk"' in page and 'class="badge breached"' not in page


def test_it_puts_a_conversation_on_hold_from_the_desk(support_queue: Queue, chat_channel: Channel, alice: Any) -> None:
    with_targets(support_queue)
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    client = logged_in("alice")
    page = client.get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert '<label for="conversation-status">' in page and '<label for="snoozed-until">' in page

    response = client.post(
        f"/desk/conversations/{conversation.pk}/status/", {"status": "snoozed", "snoozed_until": "soon"}
    )
    assert response.status_code == 422
    assert "date and time" in response.content.decode()
    response = client.post(f"/desk/conversations/{conversation.pk}/status/", {"status": "pending"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING and conversation.sla_paused_at is not None


def test_it_snoozes_through_the_api_only_for_agents_who_may_act_on_the_conversation(
    support_queue: Queue, chat_channel: Channel, alice: Any, oscar: Any
) -> None:
    """Changed deliberately with issue 11's rule: another team's agent may read the conversation, so acting on it is
    refused with 403 (it was 404 when they could not see it at all)."""
    conversation = widget_message(chat_channel, text="Bonjour").conversation
    until = (timezone.now() + timedelta(hours=2)).isoformat()
    outsider = APIClient()
    outsider.force_authenticate(oscar)
    url = f"/api/conversations/{conversation.pk}/status/"
    assert outsider.post(url, {"status": "snoozed", "snoozed_until": until}, format="json").status_code == 403
    agent = APIClient()
    agent.force_authenticate(alice)
    refused = agent.post(url, {"status": "snoozed"}, format="json")
    # The API's one error body (omnidesk/errors.py): a refusal that is not about one input field has no `fields`.
    body = refused.json()
    assert refused.status_code == 400 and body["code"] == "snooze_not_in_future" and "future" in body["detail"]
    response = agent.post(url, {"status": "snoozed", "snoozed_until": until}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "snoozed" and response.json()["snoozed_until"] is not None


# --- live delivery ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_it_pushes_a_breach_to_the_assignee_and_supervisors_but_not_another_team(
    support_queue: Queue, chat_channel: Channel, carla: Customer, alice: Any, oscar: Any, sophie: Any
) -> None:
    await database_sync_to_async(with_targets)(support_queue, first=30, resolution=None)
    conversation = await database_sync_to_async(case_of)(carla, chat_channel, assignee=alice)
    cursor = await database_sync_to_async(realtime.latest_event_id)()
    desks = {user.username: await desk_for(user, cursor) for user in (alice, oscar, sophie)}

    started = timezone.now() - timedelta(hours=1)
    await database_sync_to_async(sla.start_sla_clocks)(conversation=conversation, now=started)
    await database_sync_to_async(sla.sweep_sla)()

    for name in ("alice", "sophie"):
        # Other frames about the conversation may come first; the machine may be busy (2 shared cores).
        frame = await desks[name].receive_json_from(timeout=15)
        while frame["type"] != "conversation.sla_breached":
            frame = await desks[name].receive_json_from(timeout=15)
        assert frame["data"]["conversation"]["id"] == conversation.pk
        assert frame["data"]["clocks"][0]["clock"] == "first_response"
    assert await desks["oscar"].receive_nothing(timeout=0.5)
    for desk in desks.values():
        await desk.disconnect()
