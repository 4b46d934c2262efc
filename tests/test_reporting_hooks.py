"""The services write reporting events in their own transactions: routing, replies, status changes, resolution,
transfer. Durations are checked against the rows the services wrote (their clocks are "now")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from interactions.models import Channel, Conversation, Interaction
from interactions.phone.actions import end_after_call_work
from interactions.services import receive_message, reply_to_conversation, resolve_conversation, set_conversation_status
from reporting.models import EventKind, IntervalStat, QueueReportingSettings, ReportingEvent, Survey
from routing.models import AgentProfile, Queue
from routing.services import set_presence
from routing.transfers import transfer_conversation
from tests.phone_factories import CARLA_PHONE, moments, phone_channel, send_event

K = EventKind


def kinds(conversation: Conversation) -> list[str]:
    return list(
        ReportingEvent.objects.filter(conversation_id=conversation.pk).order_by("pk").values_list("kind", flat=True)
    )


def test_it_records_offer_answer_and_the_customers_message_when_a_chat_arrives(
    alice: Any, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    assert conversation.assignee == alice
    assert kinds(conversation) == [K.OFFERED_TO_QUEUE, K.ANSWERED, K.CUSTOMER_MESSAGE]
    answered = ReportingEvent.objects.get(conversation_id=conversation.pk, kind=K.ANSWERED)
    assert answered.agent_id == alice.pk and answered.queue_id == conversation.queue_id
    assert answered.duration_seconds == pytest.approx(
        (conversation.assigned_at - conversation.queued_at).total_seconds()
    )
    assert answered.channel_kind == "chat" and answered.customer_id == conversation.customer_id
    stat = IntervalStat.objects.get(bucket=answered.bucket, queue_id=conversation.queue_id, agent_id=alice.pk)
    assert stat.answered == 1 and stat.answered_in_target == 1


def test_it_records_first_response_then_reply_times_from_the_customers_waiting_message(
    alice: Any, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    first = reply_to_conversation(conversation=conversation, author=alice, text="Bonjour !")
    event = ReportingEvent.objects.get(conversation_id=conversation.pk, kind=K.FIRST_RESPONSE)
    conversation.refresh_from_db()
    assert event.duration_seconds == pytest.approx((first.created_at - conversation.queued_at).total_seconds())
    reply_to_conversation(conversation=conversation, author=alice, text="Autre chose ?")
    assert not ReportingEvent.objects.filter(conversation_id=conversation.pk, kind=K.AGENT_REPLY).exists()
    asked = receive_message(customer=conversation.customer, channel=chat_channel, external_id="q2", text="Oui")
    answer = reply_to_conversation(conversation=conversation, author=alice, text="Voilà")
    reply = ReportingEvent.objects.get(conversation_id=conversation.pk, kind=K.AGENT_REPLY)
    assert reply.agent_id == alice.pk
    assert reply.duration_seconds == pytest.approx((answer.created_at - asked.created_at).total_seconds())


def test_it_takes_pending_time_out_of_the_handle_time_and_counts_a_reopen(
    alice: Any, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    set_conversation_status(conversation=conversation, status=Conversation.Status.PENDING, by=alice)
    set_conversation_status(conversation=conversation, status=Conversation.Status.OPEN, by=alice)
    resolve_conversation(conversation=conversation, by=alice)
    conversation.refresh_from_db()
    resolved = ReportingEvent.objects.get(conversation_id=conversation.pk, kind=K.RESOLVED)
    pending = ReportingEvent.objects.get(conversation_id=conversation.pk, kind=K.PENDING_STOP).duration_seconds or 0
    span = (conversation.resolved_at - conversation.assigned_at).total_seconds()
    assert resolved.handle_seconds == pytest.approx(span - pending)
    set_conversation_status(conversation=conversation, status=Conversation.Status.OPEN, by=alice)
    assert K.REOPENED in kinds(conversation)


def test_it_records_both_sides_of_a_transfer(
    alice: Any, oscar: Any, sophie: Any, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    support_id = conversation.queue_id
    transfer_conversation(conversation=conversation, by=sophie, to_queue=billing_queue)
    out = ReportingEvent.objects.get(conversation_id=conversation.pk, kind=K.TRANSFER_OUT)
    into = ReportingEvent.objects.get(conversation_id=conversation.pk, kind=K.TRANSFER_IN)
    assert (out.queue_id, out.agent_id) == (support_id, alice.pk)
    assert into.queue_id == billing_queue.pk


def test_it_sends_a_survey_after_resolution_once_per_cool_down(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    QueueReportingSettings.objects.create(queue=support_queue, surveys_enabled=True, survey_cooldown_days=30)
    conversation = arrive(chat_channel)
    resolve_conversation(conversation=conversation, by=alice)
    survey = Survey.objects.get(conversation=conversation)
    message = Interaction.objects.get(conversation=conversation, meta__survey_id=survey.pk)
    assert message.meta["survey"]["choices"] == [1, 2, 3, 4, 5]
    assert message.meta["survey"]["url"].endswith(f"/survey/{message.meta['survey']['url'].split('/')[-2]}/")
    assert K.SURVEY_SENT in kinds(conversation)
    again = receive_message(customer=conversation.customer, channel=chat_channel, external_id="later", text="Re")
    resolve_conversation(conversation=again.conversation, by=alice)
    assert Survey.objects.filter(customer=conversation.customer).count() == 1  # within the cool-down


def test_it_sends_no_survey_unless_the_queue_asks_for_it(alice: Any, chat_channel: Channel, arrive: Any) -> None:
    conversation = arrive(chat_channel)
    resolve_conversation(conversation=conversation, by=alice)
    assert not Survey.objects.exists()


# --- voice, through the CTI webhook with the provider's own moments ------------------------------------------------


def test_it_records_a_calls_wait_hold_talk_and_after_call_work(alice: Any, support_queue: Queue) -> None:
    hotline = phone_channel(support_queue)
    start = timezone.now() - timedelta(minutes=10)
    ring, answer, hold, resume, hangup = moments(start, 0, 15, 30, 60, 260)
    send_event(hotline, "ringing", "v-1", ring, caller=CARLA_PHONE, agent="alice")
    send_event(hotline, "answered", "v-1", answer, agent="alice")
    send_event(hotline, "hold", "v-1", hold, agent="alice")
    send_event(hotline, "resumed", "v-1", resume, agent="alice")
    call = send_event(hotline, "hangup", "v-1", hangup)
    events = {e.kind: e for e in ReportingEvent.objects.filter(channel_kind="voice")}
    assert events[K.ANSWERED].duration_seconds == 15 and events[K.ANSWERED].agent_id == alice.pk
    assert events[K.OFFERED_TO_QUEUE].at == ring
    assert events[K.HOLD_STOP].duration_seconds == 30
    assert events[K.WRAPUP_START].duration_seconds == 260 - 15 - 30  # talk
    end_after_call_work(call=call, by=alice, disposition="")
    call.refresh_from_db()
    stop = ReportingEvent.objects.get(kind=K.WRAPUP_STOP)
    assert call.wrap_up_ended_at is not None
    after_call_work = (call.wrap_up_ended_at - hangup).total_seconds()
    assert stop.duration_seconds == pytest.approx(after_call_work)
    assert stop.handle_seconds == pytest.approx(245 + after_call_work)  # talk 215 + hold 30 + after-call work
    # Routing the call's conversation is no second answer: only the call's own events count.
    assert ReportingEvent.objects.filter(kind=K.ANSWERED).count() == 1
    assert ReportingEvent.objects.filter(kind=K.OFFERED_TO_QUEUE).count() == 1


def test_it_records_long_and_short_abandons_and_the_callbacks_they_get(alice: Any, support_queue: Queue) -> None:
    QueueReportingSettings.objects.create(queue=support_queue, short_abandon_seconds=5)
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    hotline = phone_channel(support_queue)
    start = timezone.now() - timedelta(minutes=10)
    send_event(hotline, "ringing", "v-2", start, caller=CARLA_PHONE)
    send_event(hotline, "hangup", "v-2", start + timedelta(seconds=50), cause="abandoned")
    send_event(hotline, "ringing", "v-3", start, caller="+33611111111")
    send_event(hotline, "hangup", "v-3", start + timedelta(seconds=3), cause="abandoned")
    abandoned = ReportingEvent.objects.get(kind=K.ABANDONED)
    assert abandoned.duration_seconds == 50 and abandoned.queue_id == support_queue.pk
    assert ReportingEvent.objects.get(kind=K.SHORT_ABANDONED).duration_seconds == 3
    assert ReportingEvent.objects.filter(kind=K.CALLBACK_REQUESTED).count() == 2
    stat = IntervalStat.objects.filter(queue_id=support_queue.pk, channel_kind="voice")
    assert sum(s.abandoned for s in stat) == 1 and sum(s.short_abandoned for s in stat) == 1
    assert sum(s.offered for s in stat) == 2


def test_it_records_staffed_time_with_chat_slots_when_an_agent_leaves_available(alice: Any) -> None:
    profile = AgentProfile.objects.get(user=alice)
    since = timezone.now() - timedelta(minutes=30)
    AgentProfile.objects.filter(pk=profile.pk).update(presence_changed_at=since)
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    staffed = ReportingEvent.objects.get(kind=K.AGENT_STAFFED)
    profile.refresh_from_db()
    assert staffed.duration_seconds == pytest.approx((profile.presence_changed_at - since).total_seconds())
    assert staffed.duration_seconds is not None
    assert IntervalStat.objects.get(agent_id=alice.pk).chat_slot_seconds == pytest.approx(
        staffed.duration_seconds * profile.chat_capacity
    )
