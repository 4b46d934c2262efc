"""Minimal routing (the routing issue replaces it): least-loaded available agent with free chat capacity.

Race-free with several workers: the waiting conversation and the chosen agent's profile are locked with
SELECT … FOR UPDATE SKIP LOCKED in one transaction, and the agent's load is recounted under that lock.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from interactions.models import Conversation
from omnidesk import realtime
from routing.models import AgentProfile, Queue


def open_load(user_id: Any) -> Subquery:
    return Subquery(
        Conversation.objects.filter(assignee_id=user_id, status=Conversation.Status.OPEN)
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def enqueue_conversation(*, conversation: Conversation, queue: Queue) -> None:
    """Put a new conversation in `queue` and hand it to an agent at once if one is free."""
    from interactions.services import announce_conversation

    conversation.queue = queue
    conversation.queued_at = timezone.now()
    conversation.save(update_fields=["queue", "queued_at", "updated_at"])
    if assign_next(queue=queue) != conversation:
        announce_conversation(conversation=conversation, type="conversation.queued")


def assign_next(*, queue: Queue) -> Conversation | None:
    """Assign the longest-waiting conversation of `queue` to the least-loaded free agent, if both exist."""
    from interactions.services import announce_conversation

    with transaction.atomic():
        waiting = (
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(queue=queue, assignee__isnull=True, status=Conversation.Status.OPEN)
            .order_by("queued_at", "pk")
            .first()
        )
        if waiting is None:
            return None
        candidates = (
            AgentProfile.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(presence=AgentProfile.Presence.AVAILABLE, user__queues=queue, user__is_active=True)
            .annotate(load=Coalesce(open_load(OuterRef("user_id")), 0))
            .filter(load__lt=F("chat_capacity"))
            .order_by("load", F("last_assigned_at").asc(nulls_first=True), "pk")
        )
        agent = candidates.first()
        if agent is None:
            return None
        now = timezone.now()
        waiting.assignee_id = agent.user_id
        waiting.assigned_at = now
        waiting.save(update_fields=["assignee", "assigned_at", "updated_at"])
        agent.last_assigned_at = now
        agent.save(update_fields=["last_assigned_at"])
        announce_conversation(conversation=waiting, type="conversation.assigned")
    return waiting


def assign_conversation(*, conversation: Conversation, agent: Any, by: Any = None, note: str = "") -> Conversation:
    """Give `conversation` to `agent` now, whatever the queue order (an answered call, a supervisor's reassignment)."""
    from interactions.services import announce_conversation

    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = locked.assignee
        now = timezone.now()
        locked.assignee = agent
        locked.assigned_at = now
        locked.save(update_fields=["assignee", "assigned_at", "updated_at"])
        AgentProfile.objects.filter(user=agent).update(last_assigned_at=now)
        extra = [] if previous is None or previous == agent else [realtime.agent_group(previous.pk)]
        announce_conversation(conversation=locked, type="conversation.assigned", extra_groups=extra)
    return locked


def assign_waiting(*, queue: Queue, limit: int = 100) -> list[Conversation]:
    """Assign as many waiting conversations of `queue` as free capacity allows."""
    assigned = []
    for _ in range(limit):
        conversation = assign_next(queue=queue)
        if conversation is None:
            break
        assigned.append(conversation)
    return assigned


def release_capacity(*, agent: Any, queue: Queue | None) -> None:
    """Capacity was freed (or an agent came back): offer it to what waits, the freeing queue first."""
    if agent is None:
        return
    queues = list(Queue.objects.filter(members=agent).order_by("pk"))
    if queue is not None:
        queues.sort(key=lambda q: q.pk != queue.pk)
    for each in queues:
        assign_waiting(queue=each)


def set_presence(*, user: Any, presence: str) -> AgentProfile:
    """Change an agent's presence; becoming available pulls waiting work."""
    if presence not in AgentProfile.Presence.values:
        raise ValueError(f"unknown presence {presence!r}")
    with transaction.atomic():
        profile, _created = AgentProfile.objects.select_for_update().get_or_create(user=user)
        if profile.presence != presence:
            profile.presence = presence
            profile.presence_changed_at = timezone.now()
            profile.save(update_fields=["presence", "presence_changed_at"])
        if presence == AgentProfile.Presence.AVAILABLE:
            release_capacity(agent=user, queue=None)
    return profile
