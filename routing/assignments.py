"""Assignment primitives: the state changes routing's decisions and the direct verbs are made of.

Nothing here decides who gets what or routes further (routing/services.py does, and imports this module): giving an
item to an agent whose row is locked, ending a live assignment, the routing item of a conversation, recounting an
agent's load, and the announcement of a routing change. So offers, transfers and the sweeps build on these without
importing each other's private names.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from interactions.announcements import announce_conversation
from interactions.models import Conversation
from omnidesk import prepared
from reporting import transitions as reporting_transitions  # rep
from routing import engine, recording, rows, stats
from routing.models import AgentProfile, Assignment, CapacityClass, Offer, RoutingItem, capacity_class_for


def announce_routing_change(
    *, conversation: Conversation, type: str, extra_groups: list[str] | None = None, preview: str | None = None
) -> None:
    """A routing change (queued, assigned) reaches the case's audience, and the supervisors' figures follow."""
    announce_conversation(conversation=conversation, type=type, extra_groups=extra_groups, preview=preview)
    stats.publish_stats_on_commit()


def give(*, item: RoutingItem, profile: AgentProfile, source: str) -> Conversation:
    """Assign `item` to the agent whose row the caller has locked; the caller checked the capacity."""
    now = timezone.now()
    # The conversation comes back from the assignment's own statement, with the last message's text and the
    # reporting event's context: the announcement's preview and the answered event cost no query of their own.
    recorded = engine.assign_and_read(item=item, profile=profile, source=source, now=now)
    return given(item=item, profile=profile, recorded=recorded, now=now)


def given(*, item: RoutingItem, profile: AgentProfile, recorded: recording.Recorded, now: datetime) -> Conversation:
    """What follows an assignment's recorded writes: the objects in memory as written, the answered event and the
    announcement (for `give`, and for the push decision's single statement, engine.lock_and_assign)."""
    conversation = recorded.conversation
    conversation.assignee = profile.user
    conversation.assigned_at = now
    item.state = RoutingItem.State.ASSIGNED
    item.agent_id = profile.user_id
    item.reason = ""
    item.updated_at = now
    setattr(profile, f"{item.capacity_class}_load", profile.load(item.capacity_class) + 1)
    profile.last_assigned_at = now
    # rep: reporting event
    reporting_transitions.conversation_answered(conversation=conversation, context=recorded.context)
    announce_routing_change(conversation=conversation, type="conversation.assigned", preview=recorded.last_text)
    return conversation


def end_live_assignment(*, conversation: Conversation, reason: str) -> Assignment | None:
    """Close the conversation's live assignment, if any, and give the agent's capacity back (recounted)."""
    live = Assignment.objects.filter(conversation=conversation, ended_at__isnull=True).first()
    if live is None:
        return None
    live.ended_at = timezone.now()
    live.end_reason = reason
    live.save(update_fields=["ended_at", "end_reason"])
    refresh_load(user=live.agent)
    return live


def item_for(conversation: Conversation) -> RoutingItem:
    """The conversation's routing item, created for conversations that never went through a queue."""
    item = RoutingItem.objects.select_for_update().filter(conversation=conversation).first()
    if item is not None:
        return item
    queue = conversation.queue or conversation.channel.queue
    now = conversation.queued_at or timezone.now()
    return RoutingItem.objects.create(
        conversation=conversation,
        queue=queue,
        capacity_class=capacity_class_for(conversation.channel.kind),
        rank=engine.rank_for(queue=queue, boost=0, queued_at=now),
        queued_at=now,
    )


def refresh_load(*, user: Any) -> AgentProfile | None:
    """Recount the agent's load per class from live assignments and pending offers, under the agent's lock."""
    if connection.vendor == "postgresql":
        return _refresh_load_sql(user_id=user.pk)
    profile = AgentProfile.objects.select_for_update().filter(user=user).first()
    if profile is None:
        return None
    counts = {c: 0 for c in CapacityClass.values}
    live = Assignment.objects.filter(agent=user, ended_at__isnull=True).values("capacity_class").annotate(n=Count("pk"))
    for row in live:
        counts[row["capacity_class"]] += row["n"]
    offered = (
        Offer.objects.filter(agent=user, state=Offer.State.PENDING)
        .values("item__capacity_class")
        .annotate(n=Count("pk"))
    )
    for offered_row in offered:
        counts[offered_row["item__capacity_class"]] += offered_row["n"]
    for capacity_class, n in counts.items():
        setattr(profile, f"{capacity_class}_load", n)
    profile.save(update_fields=[f"{c}_load" for c in counts])
    return profile


def _refresh_load_sql(*, user_id: int) -> AgentProfile | None:
    """`refresh_load` as one UPDATE … RETURNING (it locks the row as the SELECT … FOR UPDATE did): the same counts,
    without the four statements and three ORM compilations of the ORM form, on every release."""
    with connection.cursor() as cursor:
        prepared.execute(cursor, _refresh_load_statement(), {"user": user_id}, owner="routing")
        row = cursor.fetchone()
    return None if row is None else rows.from_row(AgentProfile, row)


@lru_cache(maxsize=1)
def _refresh_load_statement() -> str:
    assignments, offers = Assignment._meta.db_table, Offer._meta.db_table
    items, profiles = RoutingItem._meta.db_table, AgentProfile._meta.db_table
    counts = ", ".join(
        f"{c}_load = (SELECT count(*) FROM {assignments} a WHERE a.agent_id = p.user_id AND a.ended_at IS NULL"
        f" AND a.capacity_class = '{c}') + (SELECT count(*) FROM {offers} o JOIN {items} i ON i.id = o.item_id"
        f" WHERE o.agent_id = p.user_id AND o.state = '{Offer.State.PENDING.value}' AND i.capacity_class = '{c}')"
        for c in CapacityClass.values
    )
    return (
        f"UPDATE {profiles} p SET {counts} WHERE p.user_id = %(user)s RETURNING {rows.columns(AgentProfile, alias='p')}"
    )
