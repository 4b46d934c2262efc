"""The screen pop: who is calling, where their journey stands, and which agents' screens show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db.models import Max, QuerySet

from customers import selectors as customer_selectors
from customers.models import Customer, Identity
from interactions import access
from interactions.models import Channel, Conversation, Interaction
from interactions.phone.models import Call
from omnidesk import compiled_queries
from routing.models import AgentProfile

LAST_INTERACTIONS_PER_CHANNEL = 1
CHANNEL_LABELS = dict(Channel.Kind.choices)
IDENTITY_LABELS = dict(Identity.Kind.choices)


class PopCustomer(TypedDict):
    id: int | None
    name: str
    known: bool
    number: str
    value_tier: str
    organization: str
    identities: list[dict[str, str]]


class PopCase(TypedDict):
    id: int
    channel: str
    status: str
    last_message_at: str | None


class PopInteraction(TypedDict):
    id: int
    channel: str
    kind: str
    direction: str
    text: str
    at: str
    # A confidential queue's entry the agent is not a member of: metadata only, `text` is empty.
    redacted: bool


class CallRinging(TypedDict):
    """`call.ringing`: the 360° view of the caller, sent to the agents whose screen should pop."""

    call: int
    call_id: str
    direction: str
    number: str
    conversation_id: int | None
    interaction_id: int | None
    queue: str
    intent: str
    customer: PopCustomer
    open_cases: list[PopCase]
    last_interactions: list[PopInteraction]
    linked_case: PopCase | None
    # Unknown caller: what the new-customer form starts with.
    new_customer: dict[str, str] | None


# What the pop's history reads of each entry: what it shows, and what access.redact decides on (the entry's kind and
# details, its conversation's queue, assignee and the queue's confidentiality). Whole rows with their channel,
# conversation and queue were ~60 columns per entry to compile and build (docs/performance-screenpop.md).
HISTORY_FIELDS = (
    "id",
    "kind",
    "direction",
    "text",
    "meta",
    "created_at",
    "channel__kind",
    "conversation__assignee",
    "conversation__queue__confidential",
)


def recipients(call: Call) -> list[Any]:
    """The agents whose screen pops: the agent the provider rings, else the available members of the call's queue
    who are not on a call already."""
    User = get_user_model()
    if call.target_agent is not None:
        return [call.target_agent] if call.target_agent.is_active else []
    queue_id = call.queue_id or call.channel.queue_id
    busy = Call.objects.filter(
        state__in=[Call.State.ON_CALL, Call.State.ON_HOLD, Call.State.WRAP_UP], agent__isnull=False
    ).values("agent_id")
    # With the profile: the pop's reads ask whether each agent is a supervisor (a query per agent otherwise).
    return list(
        User.objects.select_related("agent_profile")
        .filter(queues=queue_id, is_active=True, agent_profile__presence=AgentProfile.Presence.AVAILABLE)
        .exclude(pk__in=busy)
    )


def _case(*, pk: int, kind: str, status: str, last_message_at: datetime | None) -> PopCase:
    return {
        "id": pk,
        "channel": str(CHANNEL_LABELS.get(kind, kind)),
        "status": status,
        "last_message_at": last_message_at.isoformat() if last_message_at else None,
    }


def _case_of(conversation: Conversation) -> PopCase:
    return _case(
        pk=conversation.pk,
        kind=conversation.channel.kind,
        status=conversation.status,
        last_message_at=conversation.last_message_at,
    )


def open_cases(agent: Any, customer: Customer, *, call: Call) -> list[PopCase]:
    """The caller's open cases `agent` may open (customers/selectors.py through interactions/access.py), as rows:
    the pop shows four columns of each, not the case with its channel, assignee and queue."""
    others = customer_selectors.open_cases(agent, customer)
    if call.conversation_id is not None:
        # A case the call opened is the call itself; a case the call joined (interactions/continuity.py) is where
        # the customer's journey already stands, so it is listed.
        others = others.exclude(pk=call.conversation_id, channel__kind=Channel.Kind.VOICE)
    return [
        _case(pk=row["id"], kind=row["channel__kind"], status=row["status"], last_message_at=row["last_message_at"])
        for row in others.values("id", "channel__kind", "status", "last_message_at")
    ]


def last_interactions(customer: Customer, *, exclude: int | None = None, agent: Any = None) -> list[PopInteraction]:
    """The newest interaction `agent` may see on every channel kind the customer used, newest first.

    Through interactions/access.py: notes `agent` may not see are left out, a confidential queue's entries come as
    metadata (`redacted`, no text). Without `agent` (no one to show it to) nothing is returned.
    """
    if agent is None:
        return []
    interactions = access.interactions_visible_to(agent, Interaction.objects.filter(customer=customer))
    if exclude is not None:
        interactions = interactions.exclude(pk=exclude)
    newest = interactions.values("channel__kind").annotate(last=Max("id")).values_list("last", flat=True)
    rows = (
        Interaction.objects.filter(pk__in=newest)
        .select_related("channel", "conversation__queue")
        .only(*HISTORY_FIELDS)
        .order_by("-id")
    )
    return [
        {
            "id": row.pk,
            "channel": str(CHANNEL_LABELS.get(row.channel.kind, row.channel.kind)),
            "kind": row.kind,
            "direction": row.direction,
            "text": row.text[:140],
            "at": row.created_at.isoformat(),
            "redacted": bool(getattr(row, "redacted", False)),
        }
        for row in access.redact(agent, rows)
    ]


def caller_of(call: Call) -> PopCustomer:
    """Who is calling, as every agent the call pops for sees it: nothing in it depends on the agent, so a queue pop
    reads it once, not once per agent."""
    customer = call.customer
    return {
        "id": customer.pk if customer else None,
        "name": str(customer) if customer and customer.display_name else "",
        "known": bool(customer) and not call.caller_was_unknown,
        "number": call.number or call.raw_number,
        "value_tier": customer.get_value_tier_display() if customer else "",
        "organization": str(customer.organization) if customer and customer.organization_id else "",
        "identities": [
            {"kind": str(IDENTITY_LABELS.get(kind, kind)), "address": address}
            # Compiled once (omnidesk/compiled_queries.py): every pop reads them.
            for kind, address in (compiled_queries.fetch(identity_rows, customer_id=customer.pk) if customer else [])
        ],
    }


def identity_rows(*, customer_id: int) -> QuerySet[Identity, tuple[str, str]]:
    """`caller_of`'s query: the caller's identities (customers/selectors.py) as (kind, address) rows."""
    return customer_selectors.identities_of(Customer(pk=customer_id)).values_list("kind", "address")


def pop_for(
    call: Call, *, agent: Any, history: list[PopInteraction] | None = None, caller: PopCustomer | None = None
) -> CallRinging:
    """The pop as `agent` may see it: the open cases those the agent may open, the history as the access rule
    shows it to them (computed here when `history` is None), the caller (`caller_of`, computed when None)."""
    if history is None:
        history = last_interactions(call.customer, exclude=call.interaction_id, agent=agent) if call.customer else []
    customer = call.customer
    pop_customer = caller if caller is not None else caller_of(call)
    cases = open_cases(agent, customer, call=call) if customer is not None else []
    linked = call.linked_conversation
    if linked is not None and call.link_status == Call.LinkStatus.UNLINKED:
        linked = None
    # The channel's queue is loaded with the call already.
    queue = call.channel.queue if call.queue_id in (None, call.channel.queue_id) else call.queue
    return {
        "call": call.pk,
        "call_id": call.call_id,
        "direction": call.direction,
        "number": call.number or call.raw_number,
        "conversation_id": call.conversation_id,
        "interaction_id": call.interaction_id,
        "queue": queue.name if queue else "",
        "intent": call.intent,
        "customer": pop_customer,
        "open_cases": cases,
        "last_interactions": history,
        "linked_case": _case_of(linked) if linked is not None else None,
        "new_customer": {"phone": call.number or call.raw_number} if not pop_customer["known"] else None,
    }
