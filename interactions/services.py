"""Business verbs about conversations and their messages; every interface calls these."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import access, cases, continuity, events, inbound_bulk, outbound
from interactions.announcements import announce_conversation, announce_message
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from reporting import transitions as reporting_transitions  # rep
from routing import sla
from routing.models import Queue
from routing.services import release_capacity

logger = logging.getLogger(__name__)

# --- messages ------------------------------------------------------------------------------------------------------


def validate_message_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("A message cannot be empty."), code="empty_message")
    limit = settings.OMNIDESK_MESSAGE_MAX_LENGTH
    if len(text) > limit:
        raise ValidationError(
            _("A message can be at most %(limit)d characters long.") % {"limit": limit}, code="message_too_long"
        )
    return text


def receive_message(
    *,
    customer: Customer,
    channel: Channel,
    external_id: str,
    text: str,
    html: str = "",
    meta: dict[str, Any] | None = None,
    kind: str = Interaction.Kind.MESSAGE,
    conversation: Conversation | None = None,
    new_conversation: bool = False,
    queue: Queue | None = None,
) -> Interaction:
    """Append an inbound message to the customer's case the continuity rule picks, or open one and route it.

    The case may have been opened on any channel (interactions/continuity.py says which case continues). `conversation`
    is the case the channel's own threading found (an email reply, say); `new_conversation=True` marks a channel whose
    threading is explicit (email), where only a recently active case continues without a marker. `queue` routes a
    new case somewhere else than the channel's queue (a call the IVR sent to an intent's queue).
    The caller holds the customer's row lock. A second message with the same external id on the channel violates a
    unique constraint: callers deduplicate before (InboundEvent is unique per channel and external id).
    """
    now = timezone.now()
    decision = continuity.decide_case(
        customer=customer,
        channel=channel,
        text=text if kind == Interaction.Kind.MESSAGE else "",
        threaded=conversation,
        explicit_threading=new_conversation,
        now=now,
    )
    meta = {**(meta or {}), "continuity": decision.reason}
    entry = {
        "kind": kind,
        "direction": Interaction.Direction.INBOUND,
        "external_id": external_id,
        "text": text,
        "html": html,
        "meta": meta,
    }
    case = decision.conversation
    if case is None:
        # No flush first: what the batch deferred (other cases' touches and entries, mail references, customer
        # messages' reporting events and their follow-ups) is nothing a new case's routing or reporting reads — its
        # offer's marks look at resolutions and cases, its case at its own events and at other channel kinds' — and
        # the follow-ups flushed after it mark the same (docs/performance-email.md). One flush per batch, not per case.
        interaction = cases.open_conversation(customer=customer, channel=channel, entry=entry, queue=queue, now=now)
        continuity.note_new_case(interaction.conversation)
        reporting_transitions.customer_wrote(interaction=interaction)  # rep: reporting event
        announce_message(interaction=interaction)
        return interaction
    reopening = decision.reopens
    case.last_message_at = now
    if inbound_bulk.active() and not reopening and case.status not in HOLD_STATUSES:
        # The case stays as it is but for this message: its UPDATE and the entry's INSERT go with the batch's others.
        inbound_bulk.touch_case(case, "last_message_at")
        cases.note_inbound_channel(conversation=case, channel=channel, deferred=True)
        entry_row = Interaction(conversation=case, customer=customer, channel=channel, **entry)
        interaction = inbound_bulk.add_entry(entry_row, channel_kind=channel.kind)
    elif not reopening and case.status not in HOLD_STATUSES:
        # A continuing message outside a batch's run (a batch of one): the same writes, sent now as SQL text.
        inbound_bulk.save_case_now(case, "last_message_at")
        cases.note_inbound_channel(conversation=case, channel=channel)
        entry_row = Interaction(conversation=case, customer=customer, channel=channel, **entry)
        interaction = inbound_bulk.create_now(entry_row)
    else:
        inbound_bulk.flush()  # the status change reads and writes the case: it must hold what the batch wrote
        case.save(update_fields=["last_message_at", "updated_at"])
        cases.note_inbound_channel(conversation=case, channel=channel)
        interaction = Interaction.objects.create(conversation=case, customer=customer, channel=channel, **entry)
    # What is announced about the case from here on previews this message without reading it back.
    with events.latest_entry_is(conversation_id=case.pk, text=text):
        if reopening or case.status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
            # The customer answered (or came back about the same thing): the case is theirs no longer, its clocks run.
            set_conversation_status(conversation=case, status=Conversation.Status.OPEN, by=None)
            case.refresh_from_db(fields=["status", "resolved_at", "snoozed_until", *SLA_FIELDS])
        followed = cases.follow_case(conversation=case, channel=channel, reopened=reopening)
        if followed.rerouted:
            case.refresh_from_db(fields=["assignee", "assigned_at", "queue", "queued_at"])
            extra = [realtime.agent_group(followed.previous_agent_id)] if followed.previous_agent_id else []
            announce_conversation(
                conversation=case,
                type="conversation.assigned" if case.assignee_id else "conversation.queued",
                extra_groups=extra,
            )
    sla.note_customer_message(conversation=case)
    interaction.conversation = case
    reporting_transitions.customer_wrote(interaction=interaction)  # rep: reporting event
    announce_message(interaction=interaction)
    return interaction


# --- agents' actions ----------------------------------------------------------------------------------------------


def reply_to_conversation(
    *, conversation: Conversation, author: Any, text: Any, channel: Channel | None = None
) -> Interaction:
    """Send an agent's reply and announce it to the desk (and to the customer's widget for chat).

    `channel` is the one the agent chose for this reply (default: the conversation's); another channel must be one
    whose queue `author` may act on (PermissionDenied otherwise). On a provider channel the reply is queued
    with an idempotency key and a task delivers it after commit; its delivery status follows.
    """
    text = validate_message_text(text)
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.RESOLVED:
            raise ValidationError(_("This conversation is resolved."), code="conversation_resolved")
        # By default the case's reply channel: where the customer last wrote in that we can answer on.
        channel = channel or conversation.channel
        if channel.pk != conversation.channel_id and not access.may_reply_through(author, conversation, channel):
            # Another team's channel speaks in that team's name (its number, its mailbox): never through ours.
            raise PermissionDenied(_("You may not reply through this channel."))
        if not channel.is_active:
            raise ValidationError(_("This channel is not active."), code="channel_inactive")
        outbound.check_reply(conversation=conversation, channel=channel)
        interaction = outbound.queue_outbound(
            conversation=conversation, channel=channel, text=text, author=author, counts_as_response=True
        )
        reporting_transitions.agent_replied(interaction=interaction)  # rep: reporting event
    return interaction


def resolve_conversation(*, conversation: Conversation, by: Any) -> Conversation:
    """Close the case; the agent's capacity is freed for the next waiting conversation."""
    with transaction.atomic():
        # With what its reporting and announcement read (channel, customer, assignee): three SELECTs otherwise.
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("channel", "customer", "assignee")
            .get(pk=conversation.pk)
        )
        if conversation.status == Conversation.Status.RESOLVED:
            return conversation
        conversation.status = Conversation.Status.RESOLVED
        conversation.resolved_at = timezone.now()
        conversation.save(update_fields=["status", "resolved_at", "updated_at"])
        sla.stop_sla_clocks(conversation=conversation)
        reporting_transitions.conversation_resolved(conversation=conversation)  # rep: reporting event + survey
        announce_conversation(conversation=conversation, type="conversation.resolved")
        release_capacity(agent=conversation.assignee, queue=conversation.queue)
    return conversation


HOLD_STATUSES = (Conversation.Status.PENDING, Conversation.Status.SNOOZED)
SLA_FIELDS = ("first_response_due_at", "next_response_due_at", "resolution_due_at", "sla_paused_at", "sla_warned_at")


def set_conversation_status(
    *, conversation: Conversation, status: str, by: Any, snoozed_until: datetime | None = None
) -> Conversation:
    """Put the case on hold (pending: waiting for the customer; snoozed: until `snoozed_until`) or reopen it.

    On hold, the SLA clocks pause and the agent's capacity is freed; reopening resumes them (a resolved case reopened
    starts fresh clocks). Resolving goes through `resolve_conversation`. `by` is None for the system (a snooze that
    ends, a customer who writes back).
    """
    if status == Conversation.Status.RESOLVED:
        return resolve_conversation(conversation=conversation, by=by)
    if status not in Conversation.Status.values:
        raise ValidationError(_("Unknown status %(status)r.") % {"status": status}, code="unknown_status")
    if status == Conversation.Status.SNOOZED and (snoozed_until is None or snoozed_until <= timezone.now()):
        raise ValidationError(_("Snooze until a moment in the future."), code="snooze_not_in_future")
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer", "channel", "assignee", "queue")
            .get(pk=conversation.pk)
        )
        previous = conversation.status
        until = snoozed_until if status == Conversation.Status.SNOOZED else None
        if previous == status and conversation.snoozed_until == until:
            return conversation
        conversation.status = status
        conversation.snoozed_until = until
        fields = ["status", "snoozed_until", "updated_at"]
        if previous == Conversation.Status.RESOLVED:
            conversation.resolved_at = None
            fields.append("resolved_at")
        conversation.save(update_fields=fields)
        if status in HOLD_STATUSES:
            sla.pause_sla(conversation=conversation)
        elif previous == Conversation.Status.RESOLVED:
            sla.start_sla_clocks(conversation=conversation)
        else:
            sla.resume_sla(conversation=conversation)
        reporting_transitions.status_changed(conversation=conversation, previous=previous)  # rep: reporting event
        announce_conversation(conversation=conversation, type="conversation.status_changed")
        if previous == Conversation.Status.OPEN:
            release_capacity(agent=conversation.assignee, queue=conversation.queue)
    return conversation


def wake_snoozed_conversations(*, now: datetime | None = None) -> list[int]:
    """Reopen the snoozed conversations whose time has come (which resumes their clocks). Run by beat."""
    now = now or timezone.now()
    woken = []
    with transaction.atomic():
        # Locked and re-read here, so one snoozed again meanwhile (to a later time) is left asleep.
        due = (
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
            .order_by("pk")
        )
        for conversation in due[: sla.SWEEP_CHUNK]:
            set_conversation_status(conversation=conversation, status=Conversation.Status.OPEN, by=None)
            woken.append(conversation.pk)
    return woken
