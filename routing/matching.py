"""A sweep's group of push decisions, matched in memory and written in one statement (PostgreSQL).

`route_queue(per_transaction=N)` makes up to N item-driven decisions in one transaction. One at a time, each decision
costs a locking batch of the queue's head (the available members' rooms computed again) and a candidate-and-assign
statement that hashes and sorts every holder of the item's skill. Here the group reads the queue's available members
once (their loads, limits, units, idle time and skills with proficiency, without locks), locks the head items in
routing order, and replays `_decide`'s walk in Python: per decision the batches of the head (SCAN_BATCH items in the
classes with room, the needs that failed in this decision left out), per item the best agent by the candidate
query's order (highest mean proficiency over the wanted skills, then lowest load ratio, then longest idle, then id),
the chosen agent's load and idle time changed before the next decision. Then one statement locks the chosen agents,
checks that none changed since the read (its row version, `xmin`), and writes every assignment: the history rows in
decision order, the items, the conversations, the loads; it returns what `given` needs per decision.

Why the decisions are the ones made one at a time: within a push group, loads only grow, so an item nobody could
take stays so for the rest of the group, and the next decision's item is the first one, in routing order, that some
agent can take now; an agent-driven refill is not part of it. The failure branch (the waiting reason, the classes
without room) runs at the same points of the walk as `_decide` runs it. Offers (refusals) are not handled here: offer
queues keep the one-at-a-time path.

When a chosen agent changed or was locked by a rival between the read and the write (a concurrent release, presence
change or decision), the statement writes nothing and returns no row, and the caller makes the group's decisions one
at a time instead: the lock and the re-check stay in PostgreSQL, as in the one-at-a-time path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from customers.models import Customer
from interactions.models import Channel, Conversation, Interaction
from omnidesk import prepared
from reporting import events as reporting_events  # rep: the answered events' context, read by the write
from routing import capacity, engine, item_driven, recording, rows
from routing.assignments import given
from routing.models import AgentProfile, AgentSkill, Assignment, Queue, RoutingItem

CLASSES = engine.CLASSES


@dataclass(slots=True, eq=False)
class Agent:
    """An available member of the queue as the group's read found them, then as the group's decisions left them."""

    id: int
    user_id: int
    xmin: str  # the row version read: the write checks it is still the one locked
    load: dict[str, int]
    capacity: dict[str, int]
    units: dict[str, int]
    capacity_units: int | None
    last_assigned_at: datetime | None
    skills: dict[int, int]  # skill id → proficiency
    # Per class with room: the candidate query's order after the proficiency (load ratio, NULL idle times first,
    # idle time, id), kept up to date by `Pool.take` so that the scan per decision compares ready tuples.
    rank: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def has_room(self, capacity_class: str) -> bool:
        """`capacity.room_sql`, in memory (AgentProfile.has_room on these values)."""
        if self.load[capacity_class] >= self.capacity[capacity_class]:
            return False
        if self.capacity_units is None:
            return True
        used = sum(self.load[c] * self.units[c] for c in CLASSES)
        return used + self.units[capacity_class] <= self.capacity_units

    def rerank(self) -> None:
        """The load ratio is the same float8 division PostgreSQL makes; a class with room has a capacity ≥ 1."""
        idle = self.last_assigned_at
        self.rank = {
            c: (self.load[c] / self.capacity[c], idle is not None, idle or _EARLIEST, self.id)
            for c in CLASSES
            if self.has_room(c)
        }


_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Pool:
    available: bool  # some member of the queue is available (for engine.explain_full_classes)
    agents: list[Agent]
    rooms: dict[str, list[Agent]] = field(default_factory=dict)
    # Per class and wanted skills: the agents with room in the class who hold them all (kept as rooms shrink).
    holders: dict[tuple[str, tuple[int, ...]], list[Agent]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for agent in self.agents:
            agent.rerank()
        self.rooms = {c: [a for a in self.agents if c in a.rank] for c in CLASSES}

    def classes(self) -> frozenset[str]:
        return frozenset(c for c in CLASSES if self.rooms[c])

    def best(self, capacity_class: str, wanted: Sequence[int]) -> Agent | None:
        """The candidate query's first agent: every wanted skill, then the highest mean proficiency over them (every
        candidate holds all of them, so the highest sum: integers, compared exactly as PostgreSQL compares its
        numeric avg), then the rank."""
        agents = self.rooms[capacity_class]
        if not wanted:
            return min(agents, key=lambda a: a.rank[capacity_class], default=None)
        needs = (capacity_class, tuple(wanted))
        holders = self.holders.get(needs)
        if holders is None:
            needed = set(wanted)
            holders = self.holders[needs] = [a for a in agents if a.skills.keys() >= needed]
        if len(wanted) == 1:
            skill = wanted[0]
            return min(holders, key=lambda a: (-a.skills[skill], a.rank[capacity_class]), default=None)
        return min(holders, key=lambda a: (-sum(a.skills[s] for s in wanted), a.rank[capacity_class]), default=None)

    def take(self, agent: Agent, capacity_class: str, now: datetime) -> None:
        agent.load[capacity_class] += 1
        agent.last_assigned_at = now
        agent.rerank()
        for c in CLASSES:
            if c not in agent.rank and agent in self.rooms[c]:
                self.rooms[c].remove(agent)
                for (held_class, _wanted), holders in self.holders.items():
                    if held_class == c and agent in holders:
                        holders.remove(agent)


@dataclass
class Pick:
    item: RoutingItem
    agent: Agent
    now: datetime
    load: dict[str, int]  # the agent's loads and idle time just before this decision, as its locked row would be
    last_assigned_at: datetime | None


def read_pool(*, queue: Queue) -> Pool:
    with connection.cursor() as cursor:
        prepared.execute(cursor, _pool_sql(), {"queue": queue.pk}, owner="routing")
        fetched = cursor.fetchall()
    agents = []
    for row in fetched:
        if row[1] is None:
            continue  # the one row of a queue without an available member with room
        (pk, user_id, xmin, *numbers), (units, last, skill_ids, proficiencies) = row[1:13], row[13:]
        agents.append(
            Agent(
                id=pk,
                user_id=user_id,
                xmin=xmin,
                load=dict(zip(CLASSES, numbers[0:3], strict=True)),
                capacity=dict(zip(CLASSES, numbers[3:6], strict=True)),
                units=dict(zip(CLASSES, numbers[6:9], strict=True)),
                capacity_units=units,
                last_assigned_at=last,
                skills=dict(zip(skill_ids, proficiencies, strict=True)),
            )
        )
    return Pool(bool(fetched[0][0]), agents)


@lru_cache(maxsize=1)
def _pool_sql() -> str:
    profiles, skills = AgentProfile._meta.db_table, AgentSkill._meta.db_table
    numbers = ", ".join(f"p.{c}_{kind}" for kind in ("load", "capacity", "units") for c in CLASSES)
    any_room = " OR ".join(capacity.room_sql(c) for c in CLASSES)
    available = item_driven.AVAILABLE.replace("%s", "%(queue)s")
    return (
        f"WITH agents AS MATERIALIZED (SELECT p.*, p.xmin::text AS version FROM {profiles} p WHERE {available})"
        " SELECT EXISTS (SELECT 1 FROM agents), b.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
        f"SELECT p.id, p.user_id, p.version, {numbers}, p.capacity_units, p.last_assigned_at,"
        " COALESCE(array_agg(s.skill_id ORDER BY s.skill_id) FILTER (WHERE s.skill_id IS NOT NULL), '{}'),"
        " COALESCE(array_agg(s.proficiency ORDER BY s.skill_id) FILTER (WHERE s.skill_id IS NOT NULL), '{}')"
        f" FROM agents p LEFT JOIN {skills} s ON s.agent_id = p.id WHERE {any_room} GROUP BY"
        f" p.id, p.user_id, p.version, {numbers}, p.capacity_units, p.last_assigned_at) b ON true"
    )


class HeadItems:
    """The queue's waiting items in routing order, locked (SKIP LOCKED) and read as the walk needs them."""

    def __init__(self, queue: Queue, chunk: int) -> None:
        self.queue, self.chunk = queue, chunk
        self.items: list[RoutingItem] = []
        self.exhausted = False

    def at(self, position: int, *, classes: frozenset[str], blocked: list[item_driven.Needs]) -> RoutingItem | None:
        """The item at `position`, reading the next chunk after the last one read when needed: in `classes` and
        without the `blocked` needs, as `_decide`'s batch statement would leave them out at this point."""
        while position >= len(self.items) and not self.exhausted:
            after = self.items[-1] if self.items else None
            where, params = item_driven.batch_where(queue=self.queue, after=after, blocked=blocked)
            where.append("i.capacity_class = ANY(%s)")
            params += [sorted(classes), self.chunk]
            with connection.cursor() as cursor:
                prepared.execute(cursor, _chunk_sql(" AND ".join(where)), params, owner="routing")
                fetched = cursor.fetchall()
            self.items += [rows.from_row(RoutingItem, row) for row in fetched]
            self.exhausted = len(fetched) < self.chunk
        return self.items[position] if position < len(self.items) else None


@lru_cache(maxsize=64)
def _chunk_sql(where: str) -> str:
    return (
        f"SELECT {rows.columns(RoutingItem, alias='i')} FROM {RoutingItem._meta.db_table} i WHERE {where}"
        " ORDER BY i.rank DESC, i.queued_at, i.id LIMIT %s FOR UPDATE OF i SKIP LOCKED"
    )


def decide_group(*, queue: Queue, size: int) -> int | None:
    """Up to `size` decisions for the push queue `queue`, in the caller's transaction; how many were made, or None
    (nothing assigned) when a chosen agent changed since the read: the caller then decides one at a time."""
    pool = read_pool(queue=queue)
    head = HeadItems(queue, size + engine.SCAN_BATCH)
    picks: list[Pick] = []
    explained: set[str] = set()
    while len(picks) < size:
        pick = _decide(
            queue=queue, pool=pool, head=head, taken={p.item.pk for p in picks}, explained=explained, first=not picks
        )
        if pick is None:
            break
        picks.append(pick)
    if not picks:
        return 0
    written = _write(queue=queue, picks=picks)
    if written is None:
        return None
    for pick, (agent_row, recorded) in zip(picks, written, strict=True):
        profile = rows.agent_from_row(agent_row)
        for c in CLASSES:
            setattr(profile, f"{c}_load", pick.load[c])
        profile.last_assigned_at = pick.last_assigned_at
        pick.item.queue = queue
        given(item=pick.item, profile=profile, recorded=recorded, now=pick.now)
    return len(picks)


def _decide(
    *, queue: Queue, pool: Pool, head: HeadItems, taken: set[int], explained: set[str], first: bool
) -> Pick | None:
    """services._decide's walk, on the group's pool and locked head.

    `_decide` gives the waiting items of the classes without room their reason on every decision; within a group
    that UPDATE is sent again only when some class became full since (`explained`: the classes already done in this
    group). Sent again, it would only touch the items this group picked and has not written yet, and the group's
    write clears their reason anyway."""
    failed: dict[tuple[Any, ...], str] = {}
    blocked: list[item_driven.Needs] = []
    position = 0
    explain = True
    while True:
        classes = pool.classes()
        if explain:
            full = set(CLASSES) - classes
            if first or not full <= explained:
                engine.explain_full_classes(queue=queue, classes_with_room=classes, available=pool.available)
                explained |= full
            explain = False
        if not classes:
            return None
        batch: list[RoutingItem] = []
        while len(batch) < engine.SCAN_BATCH:
            item = head.at(position, classes=classes, blocked=blocked)
            if item is None:
                break
            position += 1
            if item.pk not in taken and item.capacity_class in classes and item_driven.needs_of(item) not in blocked:
                batch.append(item)
        if not batch:
            return None
        for item in batch:
            item.queue = queue
            skill_ids = engine.wanted_skill_ids(item)
            needs = (item.queue_id, item.capacity_class, tuple(skill_ids), ())
            agent = None if needs in failed else pool.best(item.capacity_class, skill_ids)
            if agent is not None:
                now = timezone.now()
                pick = Pick(item, agent, now, dict(agent.load), agent.last_assigned_at)
                pool.take(agent, item.capacity_class, now)
                return pick
            engine.note_waiting(item=item, skill_ids=skill_ids, refused=(), needs=needs, failed=failed)
            if item_driven.needs_of(item) not in blocked:
                blocked.append(item_driven.needs_of(item))


def _write(*, queue: Queue, picks: list[Pick]) -> list[tuple[Sequence[Any], recording.Recorded]] | None:
    versions = {pick.agent.id: pick.agent.xmin for pick in picks}
    params: dict[str, Any] = {
        "items": [p.item.pk for p in picks],
        "conversations": [p.item.conversation_id for p in picks],
        "profiles": [p.agent.id for p in picks],
        "agents": [p.agent.user_id for p in picks],
        "nows": [p.now for p in picks],
        "classes": [p.item.capacity_class for p in picks],
        "agent_ids": list(versions),
        "xmins": list(versions.values()),
        "nagents": len(versions),
        "queue": queue.pk,
        "source": Assignment.Source.ROUTED.value,
        "state": RoutingItem.State.ASSIGNED.value,
    }
    with connection.cursor() as cursor:
        prepared.execute(cursor, _write_sql(), params, owner="routing")
        fetched = cursor.fetchall()
    if not fetched:
        return None
    if len(fetched) != len(picks):
        raise RuntimeError(f"grouped assignment returned {len(fetched)} rows for {len(picks)} decisions")
    width = rows.width(AgentProfile) + rows.width(get_user_model())
    return [(row[1 : 1 + width], recording.recorded_from(row[1 + width :])) for row in fetched]


@lru_cache(maxsize=1)
def _write_sql() -> str:
    profiles, users = AgentProfile._meta.db_table, get_user_model()._meta.db_table
    agent = ", ".join(
        [f"l.p_{c}" for c in rows.column_names(AgentProfile)]
        + [f"l.u_{c}" for c in rows.column_names(get_user_model())]
    )
    loads = ", ".join(f"{c}_load = l.p_{c}_load + g.{c}" for c in CLASSES)
    counts = ", ".join(f"count(*) FILTER (WHERE k.class = '{c}') AS {c}" for c in CLASSES)
    ok = "(SELECT count(*) FROM locked) = %(nagents)s"
    return (
        "WITH k AS (SELECT * FROM unnest(%(items)s::bigint[], %(conversations)s::bigint[], %(profiles)s::bigint[],"
        " %(agents)s::integer[], %(nows)s::timestamptz[], %(classes)s::text[]) WITH ORDINALITY"
        " AS x(item_id, conversation_id, profile_id, agent_id, at, class, ord)),"
        # The chosen agents, locked only if their row is still the version the group read (else a rival changed
        # their load or presence since): all or nothing.
        f" locked AS MATERIALIZED (SELECT {recording.agent_columns()} FROM {profiles} p"
        f" JOIN {users} u ON u.id = p.user_id JOIN unnest(%(agent_ids)s::bigint[], %(xmins)s::text[]) AS w(id, xmin)"
        " ON w.id = p.id WHERE p.xmin::text = w.xmin FOR UPDATE OF p SKIP LOCKED),"
        f" a AS (INSERT INTO {Assignment._meta.db_table}"
        " (conversation_id, agent_id, queue_id, capacity_class, source, started_at, end_reason)"
        f" SELECT k.conversation_id, k.agent_id, %(queue)s, k.class, %(source)s, k.at, '' FROM k WHERE {ok}"
        " ORDER BY k.ord),"
        f" i AS (UPDATE {RoutingItem._meta.db_table} t SET state = %(state)s, agent_id = k.agent_id, reason = '',"
        f" updated_at = k.at FROM k WHERE t.id = k.item_id AND {ok}),"
        f" c AS (UPDATE {Conversation._meta.db_table} t SET assignee_id = k.agent_id, assigned_at = k.at"
        f" FROM k WHERE t.id = k.conversation_id AND {ok}),"
        f" p AS (UPDATE {profiles} t SET {loads}, last_assigned_at = g.at FROM locked l JOIN"
        f" (SELECT k.profile_id, {counts}, max(k.at) AS at FROM k GROUP BY k.profile_id) g ON g.profile_id = l.p_id"
        f" WHERE t.id = l.p_id AND {ok})"
        f" SELECT k.ord, {agent}, {rows.columns(Conversation, alias='v')}, {rows.columns(Customer, alias='cu')},"
        f" {rows.columns(Channel, alias='ch')}, (SELECT x.text FROM {Interaction._meta.db_table} x"
        " WHERE x.conversation_id = v.id ORDER BY x.created_at DESC, x.id DESC LIMIT 1),"
        f" {reporting_events.context_select(conversation='v.id')}"
        f" FROM k JOIN locked l ON l.p_id = k.profile_id"
        f" JOIN {Conversation._meta.db_table} v ON v.id = k.conversation_id"
        f" JOIN {Customer._meta.db_table} cu ON cu.id = v.customer_id JOIN {Channel._meta.db_table} ch"
        f" ON ch.id = v.channel_id{reporting_events.context_joins(queue='v.queue_id')}"
        f" WHERE {ok} ORDER BY k.ord"
    )
