"""The item-driven decision's locking batch (`route_next`) as one hand-written statement.

The ORM form (`engine.waiting_items(...).filter(...).exclude(blocked)`, plus the keyset condition on later batches)
was compiled anew on every decision: building the query cost more CPU than PostgreSQL spent running it on the
partial index `routingitem_waiting_order (queue, rank DESC, queued_at, id) WHERE state = 'waiting'`. This is the
same statement, rows and lock (FOR UPDATE SKIP LOCKED), with the column names taken from the model only.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, overload

from django.contrib.auth import get_user_model
from django.db import connection

from omnidesk import prepared
from routing import capacity, engine, rows
from routing.models import AgentProfile, AgentSkill, Queue, RoutingItem

# The needs of an item no agent could meet in this decision (engine.same_needs as values): class, required and
# optional skill ids (as stored), and whether it has not overflowed.
Needs = tuple[str, list[int], list[int], bool]


def needs_of(item: RoutingItem) -> Needs:
    return (item.capacity_class, item.required_skill_ids, item.optional_skill_ids, item.overflowed_at is None)


class Batch(NamedTuple):
    """One locking batch of `route_next`, with what it knew of the agents when it was taken."""

    classes: frozenset[str]  # the classes in which some available member of the queue has room
    available: bool | None  # whether some member is available at all (None: not known)
    items: Sequence[RoutingItem]
    # Per item, whether some available member with room in its class has every skill it wants now (a snapshot
    # without locks, like the pool: a "yes" is confirmed by the locking candidate query, a "no" skips that query).
    servable: list[bool]


def next_batch(*, queue: Queue, after: RoutingItem | None, blocked: list[Needs]) -> Batch:
    """The next locked batch of `queue` in the classes where some member has room, each item with whether some
    free agent could take it.

    PostgreSQL: one statement finds the classes with room, locks the batch in them and probes, for each of its
    items, the members with room for the skills it wants (EXISTS on the agent-skill unique index). The agent pool
    (engine.agent_pool, a grouped scan of every member and their skills, then a Python check per item) was the
    decision's heaviest read, taken on every decision because the head of a queue is often an item nobody free can
    take (a skill nobody has): the head was then tried and failed on each decision. Elsewhere: the pool, then the
    batch, as before.
    """
    if connection.vendor != "postgresql":
        pool = engine.agent_pool(queue=queue)
        classes = frozenset().union(*(group.room for group in pool)) if pool else frozenset()
        items = _lock_waiting_batch_orm(queue=queue, classes=classes, after=after, blocked=blocked) if classes else []
        servable = [
            engine.could_serve(
                pool, capacity_class=item.capacity_class, skill_ids=engine.wanted_skill_ids(item), refused=()
            )
            for item in items
        ]
        # Agents in the pool are available members: only an empty pool leaves the question open.
        return Batch(classes, True if pool else None, items, servable)
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            _next_batch_sql(len(blocked), after is not None),
            _next_batch_params(queue, after, blocked),
            owner="routing",
        )
        fetched = cursor.fetchall()
    head = fetched[0]
    classes = frozenset(c for c, free in zip(engine.CLASSES, head[1:4], strict=True) if free)
    width = rows.width(RoutingItem)
    taken = [row for row in fetched if row[4] is not None]
    servable = [bool(row[4 + width]) for row in taken]
    return Batch(classes, bool(head[0]), LazyItems([row[4 : 4 + width] for row in taken]), servable)


class LazyItems(Sequence[RoutingItem]):
    """The batch's items, each built from its row when first read: a decision usually stops at the first servable
    item, so building all ten model instances (from_row, ~40 µs each) was mostly wasted."""

    def __init__(self, raw: list[Sequence[Any]]) -> None:
        self._raw = raw
        self._built: dict[int, RoutingItem] = {}

    def __len__(self) -> int:
        return len(self._raw)

    def raw(self, position: int) -> Sequence[Any]:
        """The item's row as read (its columns in `rows.columns` order), without building the model."""
        return self._raw[position]

    @overload
    def __getitem__(self, index: int) -> RoutingItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[RoutingItem]: ...

    def __getitem__(self, index: int | slice) -> RoutingItem | list[RoutingItem]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._raw)))]
        position = range(len(self._raw))[index]  # IndexError past the end ends iteration
        if position not in self._built:
            self._built[position] = rows.from_row(RoutingItem, self._raw[position])
        return self._built[position]


def _next_batch_params(queue: Queue, after: RoutingItem | None, blocked: list[Needs]) -> list[Any]:
    # The queue for the agents CTE, then the batch's own conditions.
    return [queue.pk, *batch_where(queue=queue, after=after, blocked=blocked)[1]]


# An available, active member of the queue (the placeholder: the queue's id), on the profile row `p`.
AVAILABLE = (
    "p.presence = 'available' AND p.takes_work"
    f" AND p.user_id IN (SELECT m.user_id FROM {Queue.members.through._meta.db_table} m WHERE m.queue_id = %s)"
    f" AND p.user_id IN (SELECT u.id FROM {get_user_model()._meta.db_table} u WHERE u.is_active)"
)


@lru_cache(maxsize=64)
def _next_batch_sql(blocked: int, after: bool) -> str:
    """The statement's text depends only on how many needs are blocked and whether a keyset applies: built once."""
    placeholder = RoutingItem(rank=0.0)
    where, _params = batch_where(
        queue=Queue(pk=0), after=placeholder if after else None, blocked=[("chat", [], [], True)] * blocked
    )
    where.append(CLASS_WITH_ROOM)
    return (
        f"WITH {agents_ctes(queue='%s')}"
        f" SELECT free.*, b.* FROM free LEFT JOIN LATERAL (SELECT {rows.columns(RoutingItem, alias='i')},"
        f" {SERVABLE} AS servable FROM {RoutingItem._meta.db_table} i WHERE {' AND '.join(where)}"
        f" ORDER BY i.rank DESC, i.queued_at, i.id LIMIT {int(engine.SCAN_BATCH)} FOR UPDATE OF i SKIP LOCKED) b"
        " ON true"
    )


def agents_ctes(*, queue: str, skilled: bool = True) -> str:
    """The CTEs `agents` (the queue's available members with their rooms), `free` (whether any is available, and
    per class whether any has room) and, with `skilled`, `skilled` (per skill, the classes in which a holder has
    room), for a statement that locks a batch of the head (`CLASS_WITH_ROOM`, `SERVABLE`); `queue`: the placeholder
    of the queue's id."""
    # Each member's rooms are computed once, in the agents CTE (the blended-units test is a dozen operations).
    rooms = ", ".join(f"{capacity.room_sql(c)} AS room_{c}" for c in engine.CLASSES)
    room = ", ".join(f"EXISTS (SELECT 1 FROM agents p WHERE p.room_{c}) AS {c}" for c in engine.CLASSES)
    any_room = " OR ".join(f"p.room_{c}" for c in engine.CLASSES)
    profiles, skills = AgentProfile._meta.db_table, AgentSkill._meta.db_table
    skill_rooms = ", ".join(f"bool_or(p.room_{c}) AS {c}" for c in engine.CLASSES)
    available = AVAILABLE.replace("%s", queue)
    ctes = (
        f"agents AS MATERIALIZED (SELECT p.id, {rooms} FROM {profiles} p WHERE {available}),"
        f" free AS (SELECT EXISTS (SELECT 1 FROM agents) AS available, {room})"
    )
    if not skilled:
        return ctes
    return (
        f"{ctes}, skilled AS MATERIALIZED (SELECT s.skill_id, {skill_rooms} FROM agents p JOIN {skills} s"
        f" ON s.agent_id = p.id WHERE {any_room} GROUP BY s.skill_id)"
    )


def _servable() -> str:
    wanted = "i.required_skill_ids || CASE WHEN i.overflowed_at IS NULL THEN i.optional_skill_ids ELSE '[]'::jsonb END"
    # The class has room for someone, and each wanted skill is held by some member with room in the class: a
    # necessary condition, exact when one skill is wanted (the usual case), so "no" is always right; a "yes" that
    # is wrong (two skills held by different agents) only costs the locking query that decides. The per-skill
    # rooms are one grouped scan of the members' skills, taken only when a batch item wants a skill.
    flags = " ".join(f"WHEN '{c}' THEN free.{c}" for c in engine.CLASSES)
    skill_flags = " ".join(f"WHEN '{c}' THEN k.{c}" for c in engine.CLASSES)
    return (
        f"(CASE i.capacity_class {flags} ELSE false END) AND NOT EXISTS (SELECT 1 FROM"
        f" jsonb_array_elements_text({wanted}) w WHERE NOT EXISTS (SELECT 1 FROM skilled k"
        f" WHERE k.skill_id = w.value::bigint AND (CASE i.capacity_class {skill_flags} ELSE false END)))"
    )


def _class_cases() -> str:
    # free.<class> is the EXISTS column of that class (names from CapacityClass only).
    return ", ".join(f"CASE WHEN free.{c} THEN '{c}' END" for c in engine.CLASSES)


# On the batch's item row `i`, with `agents_ctes`: whether some free agent could take it (see `_servable`), and
# whether its class has room for someone.
SERVABLE = _servable()
CLASS_WITH_ROOM = f"i.capacity_class = ANY(ARRAY_REMOVE(ARRAY[{_class_cases()}], NULL))"


def lock_waiting_batch(
    *, queue: Queue, classes: Collection[str], after: RoutingItem | None, blocked: list[Needs]
) -> list[RoutingItem]:
    """The next SCAN_BATCH waiting items of `queue` in routing order, in `classes`, after `after`, none of whose
    needs is in `blocked`: locked, skipping those a rival holds."""
    # route_next takes its batches with `next_batch`; this simpler form shares its WHERE (`batch_where`), which
    # tests/test_route_sql_forms.py checks through it against the ORM form.
    if connection.vendor != "postgresql":
        return _lock_waiting_batch_orm(queue=queue, classes=classes, after=after, blocked=blocked)
    where, params = batch_where(queue=queue, after=after, blocked=blocked)
    where.append("i.capacity_class = ANY(%s)")
    params.append(list(classes))
    columns = rows.columns(RoutingItem, alias="i")
    sql = (
        f"SELECT {columns} FROM {RoutingItem._meta.db_table} i WHERE {' AND '.join(where)}"
        f" ORDER BY i.rank DESC, i.queued_at, i.id LIMIT {int(engine.SCAN_BATCH)} FOR UPDATE SKIP LOCKED"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return [rows.from_row(RoutingItem, row) for row in fetched]


def batch_where(*, queue: Queue, after: RoutingItem | None, blocked: list[Needs]) -> tuple[list[str], list[Any]]:
    where = ["i.queue_id = %s", "i.state = 'waiting'"]
    params: list[Any] = [queue.pk]
    if after is not None:
        where.append(
            "(i.rank < %s OR (i.rank = %s AND i.queued_at > %s) OR (i.rank = %s AND i.queued_at = %s AND i.id > %s))"
        )
        params += [after.rank, after.rank, after.queued_at, after.rank, after.queued_at, after.pk]
    for capacity_class, required, optional, not_overflowed in blocked:
        where.append(
            "NOT (i.capacity_class = %s AND i.required_skill_ids = %s::jsonb AND i.optional_skill_ids = %s::jsonb"
            " AND (i.overflowed_at IS NULL) = %s)"
        )
        params += [capacity_class, json.dumps(required), json.dumps(optional), not_overflowed]
    return where, params


def _lock_waiting_batch_orm(
    *, queue: Queue, classes: Collection[str], after: RoutingItem | None, blocked: list[Needs]
) -> list[RoutingItem]:
    items = engine.waiting_items(queue=queue).filter(capacity_class__in=list(classes))
    for capacity_class, required, optional, not_overflowed in blocked:
        items = items.exclude(
            capacity_class=capacity_class,
            required_skill_ids=required,
            optional_skill_ids=optional,
            overflowed_at__isnull=not_overflowed,
        )
    if after is not None:
        items = items.filter(engine.after_in_order(after))
    return list(items.select_for_update(skip_locked=True)[: engine.SCAN_BATCH])
