"""The desk's conversation list filters and search (issue 15, item 7).

The filters narrow the two lists (Mine, Queue) of what the agent may act on (`access.conversations_actionable_by`):
which list, queue, status, channel kind, intent, SLA at risk, conversations mentioning the agent, and a search over
the customer's name, identities and the conversation's message text (only text the agent may read). They travel as
query parameters of the desk page, so a filtered desk is a link, and the lists re-render through the same view when a
live frame arrives (static/desk/list-filters.js): a conversation appears only if the server says it matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import QueryDict

from assist.models import Mention
from interactions import access
from interactions.models import Channel, Conversation, Interaction
from routing import sla
from routing.models import Intent, Queue

SCOPES = ("mine", "queue")
SEARCH_MAX_LENGTH = 100
# The SLA filter checks each candidate's clocks in Python (business calendars); the lists are an agent's open work,
# but a bound keeps a misconfigured desk from loading everything.
SLA_CANDIDATES_MAX = 500
LIST_MAX = 200


@dataclass(frozen=True)
class ListFilters:
    scope: str = ""
    queue_id: int | None = None
    status: str = Conversation.Status.OPEN
    channel: str = ""
    intent: str = ""
    sla_at_risk: bool = False
    mentions: bool = False
    q: str = ""

    @property
    def active(self) -> bool:
        return self != ListFilters()


def parse_filters(params: QueryDict) -> ListFilters:
    """The filters of a desk URL; unknown values are ignored (the unfiltered default), never an error."""
    raw_queue = params.get("queue", "")
    status = params.get("status", Conversation.Status.OPEN)
    channel = params.get("channel", "")
    return ListFilters(
        scope=params.get("list", "") if params.get("list", "") in SCOPES else "",
        queue_id=int(raw_queue) if raw_queue.isdigit() and len(raw_queue) < 10 else None,
        status=status if status in Conversation.Status.values else Conversation.Status.OPEN,
        channel=channel if channel in Channel.Kind.values else "",
        intent=params.get("intent", "")[:64],
        sla_at_risk=params.get("sla") == "at_risk",
        mentions=params.get("mentions") == "1",
        q=params.get("q", "").strip()[:SEARCH_MAX_LENGTH],
    )


def filter_choices(user: Any) -> dict[str, Any]:
    """What the filter form offers: the agent's queues (every queue for supervisors), statuses, channels, intents."""
    queues = Queue.objects.all() if access.is_supervisor(user) else Queue.objects.filter(members=user)
    return {
        "filter_queues": list(queues.order_by("name")),
        "filter_statuses": Conversation.Status.choices,
        "filter_channels": Channel.Kind.choices,
        "filter_intents": list(Intent.objects.filter(is_default=False).order_by("name")),
    }


def _search(user: Any, conversations: QuerySet[Conversation], q: str) -> QuerySet[Conversation]:
    text_hits = access.searchable_interactions_for(
        user, Interaction.objects.filter(conversation=OuterRef("pk"), text__icontains=q)
    )
    return conversations.filter(
        Q(customer__display_name__icontains=q)
        | Q(customer__identities__address__icontains=q)
        | Q(customer__organization__name__icontains=q)
        | Exists(text_hits)
    ).distinct()


def _at_risk(conversations: QuerySet[Conversation]) -> list[Conversation]:
    candidates = conversations.filter(
        Q(sla_warned_at__isnull=False)
        | Q(sla_breached_at__isnull=False)
        | Q(first_response_due_at__isnull=False, first_response_at__isnull=True)
        | Q(next_response_due_at__isnull=False)
        | Q(resolution_due_at__isnull=False)
    ).select_related("queue")[:SLA_CANDIDATES_MAX]
    return [c for c in candidates if sla.sla_state(c).level in ("at_risk", "breached")]


def filtered_lists(*, user: Any, filters: ListFilters) -> dict[str, Any]:
    """The desk's Mine and Queue lists under `filters` (a list the scope leaves out is None)."""
    base = access.conversations_actionable_by(user).select_related("customer", "channel", "assignee")
    base = access.with_preview_for(user, base.filter(status=filters.status))
    if filters.queue_id is not None:
        base = base.filter(queue_id=filters.queue_id)
    if filters.channel:
        base = base.filter(channel__kind=filters.channel)
    if filters.intent:
        base = base.filter(routing_intent__intent__key=filters.intent)
    if filters.mentions:
        base = base.filter(Exists(Mention.objects.filter(conversation=OuterRef("pk"), user=user)))
    if filters.q:
        base = _search(user, base, filters.q)
    lists: dict[str, Any] = {}
    for name, subset, order in (
        ("mine", base.filter(assignee=user), ("-last_message_at", "-id")),
        ("queue", base.filter(assignee__isnull=True), ("queued_at", "id")),
    ):
        if filters.scope and filters.scope != name:
            lists[name] = None
            continue
        ordered = subset.order_by(*order)
        lists[name] = _at_risk(ordered) if filters.sla_at_risk else list(ordered[:LIST_MAX])
    return lists
