"""The assignment decision: which agent gets a waiting item, or which item a freed agent gets, race-free.

Locking order, which keeps concurrent workers from deadlocking: an item-driven decision locks the item, then tries
agents with SKIP LOCKED; an agent-driven decision locks the agent, then tries items with SKIP LOCKED. Neither waits
for a row the other holds. The free-capacity test runs in the WHERE of the locking query, and PostgreSQL re-checks it
on the newest row version before granting the lock, so a load counter changed by a committed rival is seen.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Avg,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import NullIf
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions.models import Conversation, Interaction
from omnidesk import prepared
from routing import capacity, recording, rows
from routing.models import AgentProfile, AgentSkill, Assignment, CapacityClass, Queue, RoutingItem, Skill

# Items examined per locking batch when a queue is swept.
SCAN_BATCH = 10
# A waiting reason younger than this is kept rather than recomputed (three queries) on every failed attempt.
REASON_TTL = timedelta(seconds=10)


def minutes_since_epoch(moment: datetime) -> float:
    return moment.timestamp() / 60.0


def rank_for(*, queue: Queue, boost: int, queued_at: datetime) -> float:
    """See RoutingItem: base + boost − acceleration × queued minutes orders like the effective priority."""
    return float(queue.base_priority + boost) - queue.aging_acceleration * minutes_since_epoch(queued_at)


def escalation_boost() -> int:
    """The boost an SLA escalation adds to an item: at the default 10,000 points, ahead of any peer that has not
    waited a week longer (at one point a minute), so escalated cases are served first and, among themselves, by
    their usual order. `boost` is a small integer: 10,000 leaves room for tiers and intents."""
    return int(getattr(settings, "OMNIDESK_ROUTING_ESCALATION_BOOST", 10_000))


def escalate_items(*, conversation_ids: Collection[int]) -> int:
    """Route the escalated conversations' items ahead of their peers: boost and rank rise together (rank keeps
    base + boost − acceleration × queued minutes, so `recompute_ranks` keeps the escalation)."""
    step = escalation_boost()
    return RoutingItem.objects.filter(conversation_id__in=list(conversation_ids)).update(
        boost=F("boost") + step, rank=F("rank") + step
    )


def effective_priority(item: RoutingItem, *, now: datetime | None = None) -> float:
    now = now or timezone.now()
    return item.rank + item.queue.aging_acceleration * minutes_since_epoch(now)


def wanted_skill_ids(item: RoutingItem) -> list[int]:
    """The skills an agent must have for `item`: required ones, plus optional ones until it overflows."""
    ids = set(item.required_skill_ids)
    if item.overflowed_at is None:
        ids |= set(item.optional_skill_ids)
    return sorted(ids)


def candidate_agents(
    *, queue_id: int, capacity_class: str, skill_ids: Collection[int], exclude_user_ids: Collection[int] = ()
) -> QuerySet[AgentProfile]:
    """Available members of the queue with every skill and room in the class: best first.

    Highest mean proficiency over the wanted skills, then lowest load ratio, then longest idle. Membership and each
    skill are EXISTS probes of unique indexes, so the plan stays a scan of the (few hundred) available profiles.
    """
    load, limit = f"{capacity_class}_load", f"{capacity_class}_capacity"
    membership = Queue.members.through.objects.filter(queue_id=queue_id, user_id=OuterRef("user_id"))
    agents = AgentProfile.objects.filter(
        Exists(membership),
        presence=AgentProfile.Presence.AVAILABLE,
        takes_work=True,
        user__is_active=True,
    ).filter(capacity.room_q(capacity_class))
    if exclude_user_ids:
        agents = agents.exclude(user_id__in=list(exclude_user_ids))
    for skill_id in skill_ids:
        agents = agents.filter(Exists(AgentSkill.objects.filter(agent=OuterRef("pk"), skill_id=skill_id)))
    if skill_ids:
        proficiency = (
            AgentSkill.objects.filter(agent=OuterRef("pk"), skill_id__in=list(skill_ids))
            .order_by()
            .values("agent")
            .annotate(p=Avg("proficiency"))
            .values("p")
        )
        agents = agents.annotate(proficiency=Subquery(proficiency, output_field=FloatField()))
    else:
        agents = agents.annotate(proficiency=Value(0.0, output_field=FloatField()))
    ratio = ExpressionWrapper(F(load) * 1.0 / NullIf(F(limit), 0), output_field=FloatField())
    return agents.annotate(ratio=ratio).order_by(
        F("proficiency").desc(), "ratio", F("last_assigned_at").asc(nulls_first=True), "pk"
    )


def lock_best_agent(
    *, item: RoutingItem, skill_ids: Collection[int], exclude_user_ids: Collection[int] = ()
) -> AgentProfile | None:
    if connection.vendor == "postgresql":
        return _lock_best_agent_sql(item=item, skill_ids=skill_ids, exclude_user_ids=exclude_user_ids)
    agents = candidate_agents(
        queue_id=item.queue_id,
        capacity_class=item.capacity_class,
        skill_ids=skill_ids,
        exclude_user_ids=exclude_user_ids,
    )
    return agents.select_related("user").select_for_update(skip_locked=True, of=("self",)).first()


def _candidate_sql(capacity_class: str, *, skills: bool, exclude: bool, columns: str | None = None) -> str:
    """`candidate_agents` as one hand-written statement: the hot query, planned the same way every time.

    The skill test is a grouped derived table joined on the agent (it also yields the mean proficiency), and the
    membership and active tests are semi-joins: the planner then estimates its rows well and hashes, where the ORM
    form's correlated count made it guess one row and nest loops (34 ms instead of ~2 ms with 500 agents).
    Column names come from CapacityClass only, never from input.
    """
    if capacity_class not in CapacityClass.values:
        raise ValueError(capacity_class)
    load, limit = f"p.{capacity_class}_load", f"p.{capacity_class}_capacity"
    profiles, users = AgentProfile._meta.db_table, get_user_model()._meta.db_table
    members, skills_table = Queue.members.through._meta.db_table, AgentSkill._meta.db_table
    joins = ""
    order = ""
    if skills:
        joins = (
            f" JOIN (SELECT s.agent_id, avg(s.proficiency) AS proficiency FROM {skills_table} s"
            " WHERE s.skill_id = ANY(%(skills)s) GROUP BY s.agent_id HAVING count(*) = %(nskills)s) k"
            " ON k.agent_id = p.id"
        )
        order = "k.proficiency DESC, "
    where = [
        "p.presence = 'available' AND p.takes_work",
        # The class limit and, when the agent blends, the units: a call leaves no room for a chat.
        capacity.room_sql(capacity_class),
        f"p.user_id IN (SELECT m.user_id FROM {members} m WHERE m.queue_id = %(queue)s)",
        "u.is_active",
    ]
    if exclude:
        where.append("NOT (p.user_id = ANY(%(exclude)s))")
    # The whole profile and user rows come back with the lock: loading them again was one more query per decision.
    # `columns` (routing/recording.py) names them apart, for use inside a larger statement.
    if columns is None:
        columns = f"{rows.columns(AgentProfile, alias='p')}, {rows.columns(get_user_model(), alias='u')}"
    # Without skills, the index agentprofile_<class>_order (migration 0009) serves this ORDER BY: keep the two
    # expressions written alike, or PostgreSQL falls back to joining and sorting every available member.
    return (
        f"SELECT {columns} FROM {profiles} p JOIN {users} u ON u.id = p.user_id{joins} WHERE {' AND '.join(where)} "
        f"ORDER BY {order}{load}::float / NULLIF({limit}, 0), p.last_assigned_at ASC NULLS FIRST, p.id "
        "LIMIT 1 FOR UPDATE OF p SKIP LOCKED"
    )


def _lock_best_agent_sql(
    *, item: RoutingItem, skill_ids: Collection[int], exclude_user_ids: Collection[int]
) -> AgentProfile | None:
    sql = _candidate_sql(item.capacity_class, skills=bool(skill_ids), exclude=bool(exclude_user_ids))
    params: dict[str, Any] = {
        "queue": item.queue_id,
        "skills": list(skill_ids),
        "nskills": len(skill_ids),
        "exclude": list(exclude_user_ids),
    }
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, params, owner="routing")
        row = cursor.fetchone()
    return None if row is None else rows.agent_from_row(row)


def waiting_reason(*, item: RoutingItem, skill_ids: Collection[int], exclude_user_ids: Collection[int] = ()) -> str:
    """Why no agent could take `item` now, in words a supervisor understands."""
    members = AgentProfile.objects.filter(
        presence=AgentProfile.Presence.AVAILABLE, takes_work=True, user__is_active=True, user__queues=item.queue_id
    )
    if exclude_user_ids:
        members = members.exclude(user_id__in=list(exclude_user_ids))
    if not members.exists():
        return _("no agent of the queue is available")
    for skill_id in skill_ids:
        if not members.filter(skills__skill_id=skill_id).exists():
            name = Skill.objects.filter(pk=skill_id).values_list("name", flat=True).first()
            return _("no available agent with skill %(skill)s") % {"skill": name}
    return _("all capable agents are full for %(kind)s") % {"kind": item.get_capacity_class_display()}


def note_waiting(
    *,
    item: RoutingItem,
    skill_ids: Collection[int],
    refused: Collection[int],
    needs: tuple[Any, ...],
    failed: dict[tuple[Any, ...], str] | None,
) -> None:
    """No agent can take `item` now: store why it waits (route_item's, and the grouped sweep's, failure branch).

    `failed` remembers, within one decision, the reason found for each needs; a reason younger than REASON_TTL is
    kept rather than recomputed."""
    fresh = bool(item.reason) and item.updated_at >= timezone.now() - REASON_TTL
    if failed is not None and needs in failed:
        reason = failed[needs]
    elif fresh:
        reason = item.reason
    else:
        reason = waiting_reason(item=item, skill_ids=skill_ids, exclude_user_ids=refused)
    if failed is not None:
        failed[needs] = reason
    # A stale reason is saved even when unchanged: `updated_at` dates it, and a fresh one is not recomputed.
    if not fresh:
        item.reason = reason
        item.save(update_fields=["reason", "updated_at"])


def waiting_items(*, queue: Queue) -> QuerySet[RoutingItem]:
    """A queue's waiting items in routing order (effective priority, then oldest first)."""
    return RoutingItem.objects.filter(queue=queue, state=RoutingItem.State.WAITING).order_by(
        F("rank").desc(), "queued_at", "id"
    )


def same_needs(item: RoutingItem) -> Q:
    """The items that need exactly what `item` needs (class, skills, overflow state), for excluding them."""
    return Q(
        capacity_class=item.capacity_class,
        required_skill_ids=item.required_skill_ids,
        optional_skill_ids=item.optional_skill_ids,
        overflowed_at__isnull=item.overflowed_at is None,
    )


def after_in_order(item: RoutingItem) -> Q:
    """Keyset condition: the items that come after `item` in routing order (rank desc, queued_at, id)."""
    return (
        Q(rank__lt=item.rank)
        | Q(rank=item.rank, queued_at__gt=item.queued_at)
        | Q(rank=item.rank, queued_at=item.queued_at, id__gt=item.pk)
    )


class PoolGroup(NamedTuple):
    """Available agents alike for routing: the same classes with room and the same skills."""

    user_ids: frozenset[int]
    room: frozenset[str]
    skills: frozenset[int]


CLASSES = ("voice", "chat", "email")


def agent_pool(*, queue: Queue) -> list[PoolGroup]:
    """The available members of `queue` with room in some class, with their skills: a snapshot without locks.

    One query per decision lets it skip, in Python, the items no free agent could take (a skill nobody free has),
    instead of one locking query per such item. A "yes" is then confirmed by the locking candidate query. Agents
    with the same rooms and skills come as one group: building a Python object per agent cost ~3 ms per decision
    with 500 agents.
    """
    if connection.vendor == "postgresql":
        return _agent_pool_sql(queue)
    membership = Queue.members.through.objects.filter(queue_id=queue.pk, user_id=OuterRef("user_id"))
    available = AgentProfile.objects.filter(
        Exists(membership), presence=AgentProfile.Presence.AVAILABLE, takes_work=True, user__is_active=True
    )
    rooms: dict[int, tuple[int, frozenset[str]]] = {}
    for profile in available:
        room = frozenset(capacity.classes_with_room(profile))
        if room:
            rooms[profile.pk] = (profile.user_id, room)
    skills: dict[int, set[int]] = {pk: set() for pk in rooms}
    for agent_id, skill_id in AgentSkill.objects.filter(agent__in=available).values_list("agent_id", "skill_id"):
        if agent_id in skills:
            skills[agent_id].add(skill_id)
    groups: dict[tuple[frozenset[str], frozenset[int]], set[int]] = {}
    for pk, (user_id, room) in rooms.items():
        groups.setdefault((room, frozenset(skills[pk])), set()).add(user_id)
    return [PoolGroup(frozenset(users), room, agent_skills) for (room, agent_skills), users in groups.items()]


def _agent_pool_sql(queue: Queue) -> list[PoolGroup]:
    profiles, users = AgentProfile._meta.db_table, get_user_model()._meta.db_table
    members, skills_table = Queue.members.through._meta.db_table, AgentSkill._meta.db_table
    rooms = ", ".join(f"{capacity.room_sql(c)} AS {c}" for c in CLASSES)
    any_room = " OR ".join(capacity.room_sql(c) for c in CLASSES)
    agents = (
        f"SELECT p.user_id, {rooms}, array_remove(array_agg(s.skill_id ORDER BY s.skill_id), NULL) AS skills"
        f" FROM {profiles} p LEFT JOIN {skills_table} s ON s.agent_id = p.id"
        f" WHERE p.presence = 'available' AND p.takes_work AND ({any_room})"
        f" AND p.user_id IN (SELECT m.user_id FROM {members} m WHERE m.queue_id = %s)"
        f" AND p.user_id IN (SELECT u.id FROM {users} u WHERE u.is_active) GROUP BY p.id"
    )
    alike = ", ".join(CLASSES) + ", skills"
    sql = f"SELECT array_agg(a.user_id), {alike} FROM ({agents}) a GROUP BY {alike}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [queue.pk])
        rows = cursor.fetchall()
    return [
        PoolGroup(
            frozenset(row[0]),
            frozenset(c for c, free in zip(CLASSES, row[1:4], strict=True) if free),
            frozenset(row[4]),
        )
        for row in rows
    ]


def could_serve(
    pool: list[PoolGroup], *, capacity_class: str, skill_ids: Collection[int], refused: Collection[int]
) -> bool:
    wanted, refusing = set(skill_ids), set(refused)
    return any(
        capacity_class in group.room and wanted <= group.skills and not group.user_ids <= refusing for group in pool
    )


def free_classes(*, queue: Queue) -> set[str]:
    """The capacity classes in which some available member of `queue` has room (a cheap pre-check)."""
    membership = Queue.members.through.objects.filter(queue_id=queue.pk, user_id=OuterRef("user_id"))
    counts = AgentProfile.objects.filter(
        Exists(membership), presence=AgentProfile.Presence.AVAILABLE, takes_work=True, user__is_active=True
    ).aggregate(
        **{
            capacity_class: Count("pk", filter=capacity.room_q(capacity_class))
            for capacity_class in CapacityClass.values
        }
    )
    return {capacity_class for capacity_class, n in counts.items() if n}


def explain_full_classes(*, queue: Queue, classes_with_room: Collection[str], available: bool | None = None) -> None:
    """Items of a class in which nobody has room are not examined one by one: they get the reason in one update.

    Only items without a reason yet: one examined before keeps its more specific reason (a missing skill, say).
    `available` (some member of the queue is available), when the caller knows it, saves a query.

    On PostgreSQL the items a rival holds are skipped (SKIP LOCKED), as everywhere else in a decision: waiting for
    them deadlocked two sweeps holding their heads (each saw the other's class as full); they get the reason on a
    later decision, when nobody holds them.
    """
    full = [c for c in CapacityClass.values if c not in classes_with_room]
    if not full:
        return
    if available is None:
        available = AgentProfile.objects.filter(
            presence=AgentProfile.Presence.AVAILABLE, takes_work=True, user__is_active=True, user__queues=queue
        ).exists()
    for capacity_class in full:
        reason = full_class_reason(capacity_class, available=available)
        if connection.vendor != "postgresql":
            waiting_items(queue=queue).filter(capacity_class=capacity_class, reason="").update(reason=reason)
            continue
        with connection.cursor() as cursor:
            prepared.execute(
                cursor, _EXPLAIN_SQL, {"reason": reason, "queue": queue.pk, "class": capacity_class}, owner="routing"
            )


def full_class_reason(capacity_class: str, *, available: bool) -> str:
    """The reason `explain_full_classes` gives the items of a class in which nobody has room."""
    if available:
        return _("all capable agents are full for %(kind)s") % {"kind": CapacityClass(capacity_class).label}
    return _("no agent of the queue is available")


def unexplained_gate(*, queue: str, capacity_class: str) -> str:
    """Whether some waiting item of the class has no reason yet (SQL), the full class's reason update's gate: an
    ordered index walk that marks the dead entries it passes, which the update's bitmap scan never does (migration
    0010 says why and what it cost). Same snapshot as the update: no row found, none written."""
    items = RoutingItem._meta.db_table
    return (
        f"(SELECT z.id FROM {items} z WHERE z.queue_id = {queue} AND z.state = 'waiting'"
        f" AND z.capacity_class = {capacity_class} AND z.reason = '' ORDER BY z.id LIMIT 1) IS NOT NULL"
    )


# The partial index routingitem_waiting_no_reason (state = 'waiting' AND reason = '') serves the inner SELECT.
_EXPLAIN_SQL = (
    f"UPDATE {RoutingItem._meta.db_table} SET reason = %(reason)s WHERE id IN (SELECT id FROM"
    f" {RoutingItem._meta.db_table} WHERE {unexplained_gate(queue='%(queue)s', capacity_class='%(class)s')}"
    " AND queue_id = %(queue)s AND state = 'waiting' AND capacity_class = %(class)s"
    " AND reason = '' FOR UPDATE SKIP LOCKED)"
)


def items_for_agent(*, profile: AgentProfile, classes: Collection[str]) -> QuerySet[RoutingItem]:
    """Waiting items of the agent's queues it could take (every wanted skill, a class with room), best first."""
    now_minutes = minutes_since_epoch(timezone.now())
    agent_skills = AgentSkill.objects.filter(agent=profile).values("skill_id")
    required = RoutingItem.required_skills.through.objects.filter(routingitem_id=OuterRef("pk")).exclude(
        skill_id__in=agent_skills
    )
    optional = RoutingItem.optional_skills.through.objects.filter(routingitem_id=OuterRef("pk")).exclude(
        skill_id__in=agent_skills
    )
    priority = ExpressionWrapper(
        F("rank") + F("queue__aging_acceleration") * Value(now_minutes), output_field=FloatField()
    )
    return (
        RoutingItem.objects.filter(
            state=RoutingItem.State.WAITING,
            queue__members=profile.user_id,
            capacity_class__in=list(classes),
        )
        .filter(~Exists(required))
        .filter(Q(overflowed_at__isnull=False) | ~Exists(optional))
        .exclude(offers__agent_id=profile.user_id)
        .annotate(priority=priority)
        .order_by(F("priority").desc(), "queued_at", "id")
    )


def classes_with_room(profile: AgentProfile) -> list[str]:
    return capacity.classes_with_room(profile)


def describe(item: RoutingItem) -> dict[str, Any]:
    return {"id": item.pk, "queue": item.queue_id, "class": item.capacity_class, "reason": item.reason}


def record_assignment(
    *, item: RoutingItem, profile: AgentProfile, source: str, now: datetime
) -> tuple[Conversation, str]:
    """Write an assignment of `item` to the locked `profile`: the history row, the item, conversation and load.

    Returns the conversation as it was just before (with its customer and channel) and the last message's text (for
    the announcement's preview); the caller sets its new assignee.
    """
    recorded = assign_and_read(item=item, profile=profile, source=source, now=now)
    return recorded.conversation, recorded.last_text


def assign_and_read(*, item: RoutingItem, profile: AgentProfile, source: str, now: datetime) -> recording.Recorded:
    """`record_assignment`, with the answered event's reporting context when the statement could read it."""
    if connection.vendor == "postgresql":
        return recording.record(item=item, profile=profile, source=source, now=now)
    conversation, last_text = _record_assignment_orm(item=item, profile=profile, source=source, now=now)
    return recording.Recorded(conversation, last_text, None)


def lock_and_assign(
    *, item: RoutingItem, skill_ids: Collection[int], exclude_user_ids: Collection[int], source: str, now: datetime
) -> tuple[AgentProfile, recording.Recorded] | None:
    """`lock_best_agent` and `record_assignment` in one statement (PostgreSQL): the push decision's candidate, lock
    and assignment in one round trip. None, and nothing written, when no agent can take `item` now."""
    chosen = _candidate_sql(
        item.capacity_class, skills=bool(skill_ids), exclude=bool(exclude_user_ids), columns=recording.agent_columns()
    )
    return recording.lock_and_record(
        item=item, chosen=chosen, skill_ids=skill_ids, exclude_user_ids=exclude_user_ids, source=source, now=now
    )


def _record_assignment_orm(
    *, item: RoutingItem, profile: AgentProfile, source: str, now: datetime
) -> tuple[Conversation, str]:
    last_text = (
        Interaction.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id").values("text")[:1]
    )
    conversation = (
        Conversation.objects.select_related("customer", "channel")
        .annotate(last_text=Subquery(last_text))
        .get(pk=item.conversation_id)
    )
    Assignment.objects.create(
        conversation_id=item.conversation_id,
        agent_id=profile.user_id,
        queue_id=item.queue_id,
        capacity_class=item.capacity_class,
        source=source,
    )
    Conversation.objects.filter(pk=item.conversation_id).update(assignee_id=profile.user_id, assigned_at=now)
    RoutingItem.objects.filter(pk=item.pk).update(
        state=RoutingItem.State.ASSIGNED, agent_id=profile.user_id, reason="", updated_at=now
    )
    loads = {f"{item.capacity_class}_load": profile.load(item.capacity_class) + 1}
    AgentProfile.objects.filter(pk=profile.pk).update(**loads, last_assigned_at=now)
    return conversation, conversation.last_text or ""
