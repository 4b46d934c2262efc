"""The services write reporting events in their own transactions: routing, replies, status changes, resolution,
transfer. Durations are checked against the rows the services wrote (their clocks are "now")."""

from __future__ import annotations

from typing import Any

import pytest

from interactions.models import Channel, Conversation, Interaction
from interactions.services import receive_message, reply_to_conversation, resolve_conversation, set_conversation_status
from reporting.models import EventKind, IntervalStat, QueueReportingSettings, ReportingEvent, Survey
from routing.models import Queue
from routing.transfers import transfer_conversation

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
