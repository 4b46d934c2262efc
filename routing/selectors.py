"""Reads about routing shared by the supervisor view, the API and the stats events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, DurationField, Exists, ExpressionWrapper, F, Min, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from interactions import access
from interactions.models import Conversation
from routing import ewt
from routing.models import (
    AgentProfile,
    Assignment,
    ConversationIntent,
    Intent,
    Offer,
    Queue,
    RoutingItem,
    capacity_class_for,
)

AHT_SAMPLE_DAYS = 7


class WaitEstimate(TypedDict):
    queue_id: int
    channel_kind: str
    position: int
    agents: int
    free_slots: int
    aht_seconds: float
    ewt_seconds: float | None


def handle_time_seconds(queue: Queue, channel_kind: str) -> float:
    """Average handle time (assigned → resolved) over the last week's resolved conversations, else the default."""
    since = timezone.now() - timedelta(days=AHT_SAMPLE_DAYS)
    handled = Conversation.objects.filter(
        queue=queue,
        channel__kind=channel_kind,
        resolved_at__gte=since,
        assigned_at__isnull=False,
    ).aggregate(aht=Avg(ExpressionWrapper(F("resolved_at") - F("assigned_at"), output_field=DurationField())))
    aht = handled["aht"]
    return aht.total_seconds() if aht else float(queue.default_aht_seconds)


def _estimate(*, position: int, agents: int, aht_seconds: float, free_slots: int) -> float | None:
    result = ewt.estimate_wait_seconds(position=position, agents=agents, aht_seconds=aht_seconds, free_slots=free_slots)
    return None if result is None else float(result)


def estimated_wait(queue: Queue, channel_kind: str) -> WaitEstimate:
    """How long a new contact of `channel_kind` arriving now in `queue` would wait, in seconds (None: nobody can).

    The contact would be one behind everything of its capacity class that waits; the agents are the available
    members who have capacity in that class.
    """
    capacity_class = capacity_class_for(channel_kind)
    position = (
        RoutingItem.objects.filter(queue=queue, capacity_class=capacity_class, state=RoutingItem.State.WAITING).count()
        + 1
    )
    agents = AgentProfile.objects.filter(
        presence=AgentProfile.Presence.AVAILABLE,
        takes_work=True,
        user__is_active=True,
        user__queues=queue,
        **{f"{capacity_class}_capacity__gt": 0},
    ).aggregate(n=Count("pk"), capacity=Sum(f"{capacity_class}_capacity"), load=Sum(f"{capacity_class}_load"))
    free_slots = max(0, (agents["capacity"] or 0) - (agents["load"] or 0))
    aht = handle_time_seconds(queue, channel_kind)
    return {
        "queue_id": queue.pk,
        "channel_kind": channel_kind,
        "position": position,
        "agents": agents["n"],
        "free_slots": free_slots,
        "aht_seconds": round(aht, 1),
        "ewt_seconds": _estimate(position=position, agents=agents["n"], aht_seconds=aht, free_slots=free_slots),
    }


def queues_visible_to(user: Any) -> QuerySet[Queue]:
    if access.is_supervisor(user):
        return Queue.objects.all()
    return Queue.objects.filter(members=user)


def transfer_targets(user: Any) -> dict[str, Any]:
    """Where `user` may transfer a conversation: their queues (all of them for a supervisor) and their agents."""
    queues = queues_visible_to(user).order_by("name")
    agents = (
        get_user_model()
        .objects.filter(is_active=True, agent_profile__role=AgentProfile.Role.AGENT)
        .filter(queues__in=queues)
        .distinct()
        .order_by("username")
    )
    return {"transfer_queues": queues, "transfer_agents": agents}


class IntentChoice(TypedDict):
    current: Intent | None
    confidence_percent: int | None
    intents: QuerySet[Intent]


def intent_choice(conversation: Conversation) -> IntentChoice:
    """The conversation's detected (or corrected) intent with its confidence, and the intents an agent may pick."""
    current = ConversationIntent.objects.filter(conversation=conversation).select_related("intent").first()
    return {
        "current": current.intent if current else None,
        "confidence_percent": round(current.confidence * 100) if current else None,
        "intents": Intent.objects.order_by("name"),
    }


def pending_offers_for(user: Any) -> QuerySet[Offer]:
    """The offers waiting for `user`'s answer, with what the desk shows of each."""
    return Offer.objects.filter(agent=user, state=Offer.State.PENDING).select_related("item__conversation__customer")


def at_risk_count(queue: Queue, *, now: Any = None) -> int:
    """Open conversations of the queue whose next SLA due time is within the warning window or past."""
    now = now or timezone.now()
    open_ = Conversation.objects.filter(queue=queue).exclude(status=Conversation.Status.RESOLVED)
    warned = open_.filter(Q(sla_warned_at__isnull=False) | Q(sla_breached_at__isnull=False))
    target = queue.sla_first_response_minutes
    horizon = now
    if target:
        horizon = now + timedelta(minutes=target * (100 - queue.sla_warning_percent) / 100)
    due = open_.filter(
        Q(first_response_at__isnull=True, first_response_due_at__lte=horizon)
        | Q(next_response_due_at__lte=horizon)
        | Q(resolution_due_at__lte=horizon)
    )
    return (warned | due).distinct().count()


def supervisor_overview() -> dict[str, Any]:
    """Per queue: waiting, longest wait, EWT per served kind, SLA risk; per agent: presence and load per class."""
    now = timezone.now()
    queues = []
    for queue in Queue.objects.order_by("name"):
        waiting = RoutingItem.objects.filter(queue=queue, state=RoutingItem.State.WAITING).aggregate(
            n=Count("pk"), oldest=Min("queued_at")
        )
        kinds = queue.channel_kinds or ["chat"]
        queues.append(
            {
                "queue": queue,
                "waiting": waiting["n"],
                "longest_wait_seconds": int((now - waiting["oldest"]).total_seconds()) if waiting["oldest"] else 0,
                "ewt": [estimated_wait(queue, kind) for kind in kinds],
                "at_risk": at_risk_count(queue, now=now),
            }
        )
    agents = list(
        AgentProfile.objects.select_related("user")
        # Agents, supervisors who take work, and anyone who still holds work: nothing held is invisible here.
        .filter(
            Q(role=AgentProfile.Role.AGENT)
            | Q(takes_work=True)
            | Q(chat_load__gt=0)
            | Q(voice_load__gt=0)
            | Q(email_load__gt=0)
            | Exists(Assignment.objects.filter(agent_id=OuterRef("user_id"), ended_at__isnull=True)),
            user__is_active=True,
        )
        .order_by("presence", "user__username")
    )
    return {"queues": queues, "agents": agents}
