"""The agent-driven decision (capacity freed, agent back) as one hand-written locking statement.

`engine.items_for_agent` ordered every waiting item of the agent's queues by its effective priority
(rank + acceleration × now): PostgreSQL had to read, filter and sort them all, 77 ms with 10,000 waiting (EXPLAIN
ANALYZE), and the ORM compiled the query anew on each call. Within one queue that order is the order of `rank`
(acceleration × now is the same for all its items), which the partial index `routingitem_waiting_order (queue,
rank DESC, queued_at, id) WHERE state = 'waiting'` serves. So the statement walks that index once per queue of the
agent, stopping at the first item the agent can take (a class with room, every required skill, the optional ones
until it overflows, never offered to them before), locks it with SKIP LOCKED, and then keeps the best of those
heads by effective priority, then oldest, then id: the same choice as `items_for_agent(...).first()`.

A queue's head is locked even when another queue's head wins; that lock lasts until the caller's transaction ends,
like the unchosen items of `route_next`'s locked batch, and a rival skips it (it never waits for it).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection
from django.utils import timezone

from interactions.models import Conversation
from omnidesk import prepared
from routing import engine, rows
from routing.models import AgentProfile, AgentSkill, Assignment, CapacityClass, Offer, Queue, RoutingItem


def lock_best_item_for_agent(*, profile: AgentProfile, classes: Collection[str]) -> RoutingItem | None:
    """The best waiting item `profile` (locked by the caller) can take in `classes`, locked, with its queue."""
    if connection.vendor != "postgresql":
        return (
            engine.items_for_agent(profile=profile, classes=classes)
            .select_related("queue")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
    wanted = [c for c in classes if c in CapacityClass.values]
    if not wanted:
        return None
    params: dict[str, Any] = {
        "user": profile.user_id,
        "profile": profile.pk,
        "classes": wanted,
        "now_minutes": engine.minutes_since_epoch(timezone.now()),
    }
    with connection.cursor() as cursor:
        prepared.execute(cursor, _sql(), params, owner="routing")
        row = cursor.fetchone()
    if row is None:
        return None
    split = rows.width(RoutingItem)
    item: RoutingItem = rows.from_row(RoutingItem, row[:split])
    item.queue = rows.from_row(Queue, row[split:])
    return item


@lru_cache(maxsize=1)
def _sql() -> str:
    items, queues = RoutingItem._meta.db_table, Queue._meta.db_table
    members = Queue.members.through._meta.db_table
    required = RoutingItem.required_skills.through._meta.db_table
    optional = RoutingItem.optional_skills.through._meta.db_table
    held = f"SELECT s.skill_id FROM {AgentSkill._meta.db_table} s WHERE s.agent_id = %(profile)s"
    item_columns = rows.columns(RoutingItem, alias="h")
    queue_columns = rows.columns(Queue, alias="q")
    head = (
        f"SELECT i.* FROM {items} i WHERE i.queue_id = m.queue_id AND i.state = 'waiting'"
        " AND i.capacity_class = ANY(%(classes)s)"
        f" AND NOT EXISTS (SELECT 1 FROM {required} r WHERE r.routingitem_id = i.id AND r.skill_id NOT IN ({held}))"
        " AND (i.overflowed_at IS NOT NULL OR NOT EXISTS"
        f" (SELECT 1 FROM {optional} o WHERE o.routingitem_id = i.id AND o.skill_id NOT IN ({held})))"
        f" AND NOT EXISTS (SELECT 1 FROM {Offer._meta.db_table} f WHERE f.item_id = i.id AND f.agent_id = %(user)s)"
        " ORDER BY i.rank DESC, i.queued_at, i.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED"
    )
    return (
        f"SELECT {item_columns}, {queue_columns} FROM {members} m JOIN {queues} q ON q.id = m.queue_id"
        f" CROSS JOIN LATERAL ({head}) h WHERE m.user_id = %(user)s"
        " ORDER BY h.rank + q.aging_acceleration * %(now_minutes)s DESC, h.queued_at, h.id LIMIT 1"
    )


def close_resolved(*, user_id: int, now: datetime) -> None:
    """End the agent's live assignments of resolved conversations and close their routing items (a release)."""
    finished = Assignment.objects.filter(
        agent_id=user_id, ended_at__isnull=True, conversation__status=Conversation.Status.RESOLVED
    )
    if connection.vendor != "postgresql":
        conversation_ids = list(finished.values_list("conversation_id", flat=True))
        finished.update(ended_at=now, end_reason="resolved")
        RoutingItem.objects.filter(conversation_id__in=conversation_ids).update(state=RoutingItem.State.CLOSED)
        return
    # One statement instead of three (the read of the ids, the two updates), the same rows written.
    sql = (
        f"WITH f AS (UPDATE {Assignment._meta.db_table} a SET ended_at = %(now)s, end_reason = 'resolved'"
        f" FROM {Conversation._meta.db_table} c WHERE a.agent_id = %(user)s AND a.ended_at IS NULL"
        " AND c.id = a.conversation_id AND c.status = %(resolved)s RETURNING a.conversation_id)"
        f" UPDATE {RoutingItem._meta.db_table} SET state = %(closed)s"
        " WHERE conversation_id IN (SELECT conversation_id FROM f)"
    )
    params: dict[str, Any] = {
        "now": now,
        "user": user_id,
        "resolved": Conversation.Status.RESOLVED.value,
        "closed": RoutingItem.State.CLOSED.value,
    }
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, params, owner="routing")
