"""Calls: the provider's events applied to one Call record, the timeline entry, routing and the screen pop.

Every CTI event goes through `record_call_event`, inside the ingest batch's transaction. The event only adds the
moment it reports; `state`, `result` and the timings are then derived from every moment known, and each side effect
(screen pop, assignment, closing the pop, callback) happens once, when the derived state first calls for it. That is
what makes duplicated and out-of-order events converge: a hang-up before its `answered` ends the call, and the late
`answered` then fills in the talk time without reopening anything.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import lock_customer_by_identity, normalize_phone
from interactions import access
from interactions.announcements import announce_message
from interactions.cases import open_conversation
from interactions.continuity import decide_case
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from interactions.phone import callbacks, screen_pop
from interactions.phone.call_lock import lock_call
from interactions.phone.cti import CtiEvent, parse_cti, parse_twilio
from interactions.phone.models import Call
from interactions.services import receive_message, resolve_conversation
from omnidesk import compiled_queries, realtime
from reporting import transitions as reporting_transitions  # rep
from routing.models import Queue
from routing.services import assign_conversation

logger = logging.getLogger(__name__)

ABANDON_CAUSES = {"abandoned", "caller_hangup", "caller", "canceled", "cancelled"}
# The events whose `agent` / `extension` is used: the rung, the answering and the receiving agent.
AGENT_EVENTS = {"ringing", "answered", "transferred"}
LINKED_CASE_FIELDS = ("id", "status", "last_message_at", "channel__kind")
ACTIVE_STATES = {Call.State.RINGING, Call.State.ON_CALL, Call.State.ON_HOLD, Call.State.WRAP_UP}


# --- processors (registered in PhoneConfig.ready) -----------------------------------------------------------------


def process_cti_event(event: InboundEvent) -> Interaction | None:
    return record_call_event(channel=event.channel, cti=parse_cti(event.payload))


def process_twilio_event(event: InboundEvent) -> Interaction | None:
    return record_call_event(channel=event.channel, cti=parse_twilio(event.payload))


# --- the state machine ---------------------------------------------------------------------------------------------


def find_agent(*, channel: Channel, agent: str = "", extension: str = "") -> Any:
    """The user an event names: a username or user id, or an extension mapped in the channel's config."""
    name = agent
    if not name and extension:
        name = str((channel.config.get("extensions") or {}).get(extension, ""))
    if not name:
        return None
    # Compiled once (omnidesk/compiled_queries.py): every ringing reads its agent, and building this query cost more
    # client CPU than PostgreSQL spends running it (docs/performance-screenpop.md).
    found = compiled_queries.fetch(agent_named, username=name)
    if not found and name.isdigit():
        # Not compiled: a user id is a 32-bit column, whose lookups refuse compiled_queries' stand-in ids.
        found = list(agent_numbered(user_id=int(name)))
    return found[0] if found else None


def agent_named(*, username: str) -> QuerySet[Any]:
    """`find_agent`'s query for a username: the active user, with the profile (the screen pop asks whether the agent
    is a supervisor)."""
    users = get_user_model().objects.select_related("agent_profile").filter(is_active=True)
    return users.filter(username=username).order_by("pk")[:1]


def agent_numbered(*, user_id: int) -> QuerySet[Any]:
    """`find_agent`'s query for a user id, as `agent_named`."""
    users = get_user_model().objects.select_related("agent_profile").filter(is_active=True)
    return users.filter(pk=user_id).order_by("pk")[:1]


def _earliest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at < current else current


def record_call_event(*, channel: Channel, cti: CtiEvent) -> Interaction | None:
    """Apply one provider event to its call (idempotent, order-independent); the call's timeline entry, if any."""
    # No savepoint of its own (two statements per event): it runs in the ingest batch's transaction, and an error
    # rolls the whole batch back (inbound.py then processes its events one by one).
    with transaction.atomic(savepoint=False):
        call = lock_call(
            channel=channel, call_id=cti.call_id, direction=cti.direction, expect_new=cti.event == "ringing"
        )
        note_event(call, cti)
        if call.interaction_id is None and (call.number or call.raw_number):
            derive(call)
            open_call_entry(call)
        settle(call)
        call.save()
        return call.interaction


def note_event(call: Call, cti: CtiEvent) -> None:
    """Record what the event reports, without deciding anything yet."""
    channel = call.channel
    if not call.raw_number and cti.customer_number:
        call.direction = cti.direction
        call.raw_number = cti.customer_number
        try:
            call.number = normalize_phone(cti.customer_number)
        except ValidationError:
            call.number = ""  # withheld or malformed: an unknown caller, the raw form is kept
    if cti.queue and call.queue_id is None:
        call.queue = Queue.objects.filter(name=cti.queue).first()
    if cti.intent and not call.intent:
        call.intent = cti.intent
    if cti.recording_url:
        call.recording_url = cti.recording_url
    # Only the events that name someone who matters read the agent: a hang-up or a hold carrying the agent's name
    # (most PBXs send it on every event) used to pay a user SELECT for nothing.
    agent = None
    if cti.event in AGENT_EVENTS:
        agent = find_agent(channel=channel, agent=cti.agent, extension=cti.extension)
    at = cti.at.isoformat()
    if cti.event == "ringing":
        call.ringing_at = _earliest(call.ringing_at, cti.at)
        if agent is not None and call.target_agent_id is None:
            call.target_agent = agent
    elif cti.event == "answered":
        call.answered_at = _earliest(call.answered_at, cti.at)
        if agent is not None:
            call.answered_by = agent
    elif cti.event in ("hold", "resumed"):
        mark = {"event": cti.event, "at": at}
        if mark not in call.holds:
            call.holds = [*call.holds, mark]
    elif cti.event == "transferred":
        transfer = {"to": agent.pk if agent else None, "at": at}
        if transfer not in call.transfers:
            call.transfers = [*call.transfers, transfer]
    elif cti.event == "hangup":
        call.ended_at = _earliest(call.ended_at, cti.at)
        if cti.cause and not call.cause:
            call.cause = cti.cause


def open_call_entry(call: Call) -> None:
    """The call's entry in the customer's timeline, in a conversation routed like any other work."""
    started = timezone.now()
    if call.customer_id is not None:  # click-to-call: the customer the agent called from their panel
        customer = Customer.objects.select_for_update().get(pk=call.customer_id)
    elif call.number:
        # call.number is E.164 already (note_event): the lookup goes straight to the (kind, address) unique index.
        customer = lock_customer_by_identity(kind=Identity.Kind.PHONE, address=call.number, normalized=True)
    else:
        customer = Customer.objects.create()
    # Created just now: nobody had this number. The pop then offers the new-customer form.
    call.caller_was_unknown = customer.created_at >= started
    call.customer = customer
    if call.direction == "out":
        open_outbound_entry(call, customer)
    else:
        # The call joins the caller's open case on any channel (interactions/continuity.py); a new case goes to
        # the queue the IVR chose, when it chose one.
        queue = call.queue if call.queue_id not in (None, call.channel.queue_id) else None
        interaction = receive_message(
            customer=customer,
            channel=call.channel,
            external_id=f"call:{call.call_id}",
            text=call_summary(call),
            meta=call_meta(call),
            kind=Interaction.Kind.CALL,
            queue=queue,
        )
        call.interaction = interaction
        call.conversation = interaction.conversation
    if call.queue_id is None and call.conversation is not None:
        call.queue_id = call.conversation.queue_id
    link_to_open_case(call)


def open_outbound_entry(call: Call, customer: Customer) -> None:
    """An agent's outgoing call (click-to-call): it joins the customer's open case, else opens one that is theirs."""
    agent = call.target_agent or call.agent
    entry = {
        "kind": Interaction.Kind.CALL,
        "direction": Interaction.Direction.OUTBOUND,
        "author": agent,
        "external_id": f"call:{call.call_id}",
        "text": call_summary(call),
        "meta": call_meta(call),
    }
    case = decide_case(customer=customer, channel=call.channel, text="").conversation
    if case is None:
        interaction = open_conversation(
            customer=customer, channel=call.channel, entry=entry, queue=call.queue or call.channel.queue, agent=agent
        )
    else:
        interaction = Interaction.objects.create(conversation=case, customer=customer, channel=call.channel, **entry)
        if agent is not None and case.assignee_id != agent.pk:
            case = assign_conversation(conversation=case, agent=agent)
        interaction.conversation = case
    call.interaction = interaction
    call.conversation = interaction.conversation
    announce_message(interaction=interaction)


def link_to_open_case(call: Call) -> None:
    """Channel attrition: the caller has *another* open case (the call joined the latest one by the continuity rule,
    interactions/continuity.py); the agent confirms or unlinks the suggestion."""
    if call.customer is None or call.linked_conversation_id is not None:
        return
    # Compiled once (omnidesk/compiled_queries.py): it runs for every inbound call.
    if call.conversation_id is None:
        found = compiled_queries.fetch(open_case_of, customer_id=call.customer.pk)
    else:
        found = compiled_queries.fetch(other_open_case_of, customer_id=call.customer.pk, but=call.conversation_id)
    if found:
        call.linked_conversation = found[0]
        call.link_status = Call.LinkStatus.SUGGESTED


def _open_cases_of(customer_id: int) -> QuerySet[Conversation]:
    # What the pop shows of the case (screen_pop.pop_for), not the case with its channel's configuration and secrets:
    # the call stores only the link's id.
    return (
        Conversation.objects.filter(customer_id=customer_id)
        .select_related("channel")
        .only(*LINKED_CASE_FIELDS)
        .exclude(channel__kind=Channel.Kind.VOICE)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at", "-id")
    )


def open_case_of(*, customer_id: int) -> QuerySet[Conversation]:
    """`link_to_open_case`'s query: the customer's most recently active unresolved case on a channel other than the
    phone."""
    return _open_cases_of(customer_id)[:1]


def other_open_case_of(*, customer_id: int, but: int) -> QuerySet[Conversation]:
    """`open_case_of`, other than the case `but` (the one the call joined or opened)."""
    return _open_cases_of(customer_id).exclude(pk=but)[:1]


def current_agent_id(call: Call) -> int | None:
    """Who has the call: the last transfer's target, else who answered, else whom it rings."""
    transfers = sorted((t for t in call.transfers if t.get("to")), key=lambda t: t["at"])
    if transfers:
        return int(transfers[-1]["to"])
    if call.answered_by_id is not None:
        return call.answered_by_id
    return call.target_agent_id


def hold_seconds(call: Call) -> float:
    held, since = 0.0, None
    for mark in sorted(call.holds, key=lambda m: m["at"]):
        at = datetime.fromisoformat(mark["at"])
        if mark["event"] == "hold" and since is None:
            since = at
        elif mark["event"] == "resumed" and since is not None:
            held += (at - since).total_seconds()
            since = None
    if since is not None and call.ended_at is not None:
        held += max(0.0, (call.ended_at - since).total_seconds())
    return held


def on_hold(call: Call) -> bool:
    marks = sorted(call.holds, key=lambda m: m["at"])
    return bool(marks) and marks[-1]["event"] == "hold"


def derive(call: Call) -> None:
    """State and result from the moments known so far."""
    if call.ended_at is not None:
        if call.answered_at is not None:
            call.result = Call.Result.ANSWERED
        elif call.cause == "voicemail":
            call.result = Call.Result.VOICEMAIL
        elif call.cause in ABANDON_CAUSES:
            call.result = Call.Result.ABANDONED
        else:
            call.result = Call.Result.MISSED
        answered = call.result == Call.Result.ANSWERED
        call.state = Call.State.WRAP_UP if answered and call.wrap_up_ended_at is None else Call.State.ENDED
    elif call.answered_at is not None:
        call.state = Call.State.ON_HOLD if on_hold(call) else Call.State.ON_CALL
    elif call.ringing_at is not None:
        call.state = Call.State.RINGING
    set_current_agent(call, current_agent_id(call))


def set_current_agent(call: Call, agent_id: int | None) -> None:
    """`call.agent` = the user `agent_id`, taken from the call's target or answering agent when one of them is that
    user and loaded already: assigning the bare id would have `call.agent` read the same user again."""
    for relation in ("target_agent", "answered_by"):
        if (
            agent_id is not None
            and getattr(call, f"{relation}_id") == agent_id
            and relation in call._state.fields_cache
        ):
            call.agent = call._state.fields_cache[relation]
            return
    call.agent_id = agent_id


def seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def call_meta(call: Call) -> dict[str, Any]:
    hold = round(hold_seconds(call))
    talk = seconds(call.answered_at, call.ended_at)
    agent = call.agent
    return {
        "call_id": call.call_id,
        "direction": call.direction,
        "state": call.state,
        "result": call.result,
        "number": call.number or call.raw_number,
        "wait_seconds": seconds(call.ringing_at, call.answered_at or call.ended_at),
        "talk_seconds": None if talk is None else max(0, talk - hold),
        "hold_seconds": hold,
        "after_call_work_seconds": seconds(call.ended_at, call.wrap_up_ended_at),
        "recording_url": call.recording_url,
        "cause": call.cause,
        "agent": (agent.first_name or agent.get_username()) if agent else "",
        "disposition": call.disposition.code if call.disposition else "",
        "disposition_label": call.disposition.label if call.disposition else "",
        "notes": call.notes,
    }


def call_summary(call: Call) -> str:
    """The entry's text: what a reader of the timeline needs at a glance."""
    direction = _("Outbound call") if call.direction == "out" else _("Inbound call")
    parts = [direction, call.get_result_display() if call.result else call.get_state_display()]
    meta = call_meta(call)
    if meta["wait_seconds"] is not None:
        parts.append(_("waited %(s)s s") % {"s": meta["wait_seconds"]})
    if meta["talk_seconds"] is not None and call.result == Call.Result.ANSWERED:
        parts.append(_("talked %(s)s s") % {"s": meta["talk_seconds"]})
    if call.disposition:
        parts.append(call.disposition.label)
    return " · ".join(str(p) for p in parts)


def settle(call: Call) -> None:
    """Derive the new state, bring the timeline entry up to date and make each once-only side effect happen."""
    derive(call)
    conversation = call.conversation
    if call.interaction is not None:
        update_entry(call)
    if call.state == Call.State.RINGING and call.direction == "in":
        if not call.popped_to:
            pop_screens(call, agents=screen_pop.recipients(call))
        elif call.agent is not None and call.agent.pk not in call.popped_to:
            pop_screens(call, agents=[call.agent])  # transferred before anyone answered
    answered_agent = call.agent if call.answered_at is not None else None
    if (
        answered_agent is not None
        and conversation is not None
        and conversation.status != Conversation.Status.RESOLVED
        and conversation.assignee_id != answered_agent.pk
        and call.state != Call.State.ENDED
    ):
        conversation = assign_conversation(conversation=conversation, agent=answered_agent)
        call.conversation = conversation
    if call.answered_at is not None and not call.answer_announced:
        call.answer_announced = True
        reporting_transitions.call_answered(call=call)  # rep: reporting event
        announce_call(call, "call.answered")
    # An end reported before the call's first event with a number waits for it: the missed call's callback needs
    # the caller.
    if call.ended_at is not None and not call.end_announced and (call.interaction is not None or call.popped_to):
        call.end_announced = True
        announce_call(call, "call.ended")
        if call.direction == "in" and call.result in (Call.Result.MISSED, Call.Result.ABANDONED):
            callbacks.schedule_callback_for_missed_call(call=call)
            if conversation is not None:
                resolve_conversation(conversation=conversation, by=None)
        # After the resolution: reporting settles a case (its first offer to its first resolution) from the events
        # stored, whatever their order (reporting/followups.py). The call's offer written first made the resolution
        # settle the case a second time (~8 statements per missed call); written last, the case is settled once, the
        # same case with the same rollups.
        reporting_transitions.call_ended(call=call)  # rep: reporting event


def update_entry(call: Call) -> None:
    interaction = call.interaction
    assert interaction is not None
    meta, text = call_meta(call), call_summary(call)
    stored = interaction.meta or {}
    # Only the call's own keys are compared: receive_message adds `continuity` to the entry it stores, so a ringing's
    # entry, just written with these very values, used to be rewritten and announced again (`call.updated`) at once.
    if interaction.text == text and all(stored.get(key, None) == value for key, value in meta.items()):
        return
    interaction.meta, interaction.text = meta, text
    Interaction.objects.filter(pk=interaction.pk).update(meta=meta, text=text)
    conversation = call.conversation or interaction.conversation
    data = {
        "call": call.pk,
        "interaction_id": interaction.pk,
        "conversation_id": interaction.conversation_id,
        "state": call.state,
        "text": text,
        "meta": meta,
    }
    realtime.publish_on_commit(type="call.updated", data=data, groups=access.audience_for_conversation(conversation))


def pop_screens(call: Call, *, agents: list[Any]) -> None:
    """`call.ringing` to each of `agents`, with the open cases that agent may see."""
    if not agents:
        return
    caller = screen_pop.caller_of(call)
    realtime.publish_many_on_commit(
        [
            realtime.Announcement(
                "call.ringing",
                # Per agent: what history each may see differs (notes, confidential queues).
                screen_pop.pop_for(call, agent=agent, caller=caller),
                [realtime.agent_group(agent.pk)],
            )
            for agent in agents
        ]
    )
    call.popped_to = [*call.popped_to, *(agent.pk for agent in agents)]


def announce_call(call: Call, type: str) -> None:
    """`call.answered` / `call.ended` to the screens that popped (the others close it) and the supervisors."""
    agent = call.agent
    data = {
        "call": call.pk,
        "call_id": call.call_id,
        "conversation_id": call.conversation_id,
        "agent_id": agent.pk if agent else None,
        "agent": (agent.first_name or agent.get_username()) if agent else "",
        "state": call.state,
        "result": call.result,
    }
    groups = [realtime.agent_group(pk) for pk in call.popped_to] + [realtime.supervisors_group()]
    if agent is not None:
        groups.append(realtime.agent_group(agent.pk))
    realtime.publish_on_commit(type=type, data=data, groups=groups)
