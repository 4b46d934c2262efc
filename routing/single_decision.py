"""One push decision of `route_next` in one PostgreSQL statement: the locking batch of the queue's head, the
candidate agent of its first item some free agent could take, the agent's lock and the assignment's writes.

Statement by statement, a decision sent the batch (`item_driven.next_batch`: the members' rooms, the classes with
room, the head locked, which items a free agent could take), another batch when none of the first's could be tried
(1.4 batches per decision in the routing benchmark, whose head fills with items wanting a skill nobody has), the
full classes' reason (`engine.explain_full_classes`, once a class is full), then for the first servable item the
candidate, lock and assignment (`engine.lock_and_assign`): 3 to 4 round trips, and a model instance and a
`route_item` call for every item of the head passed over (five per decision).

Here all of it is one statement. `batch` is `next_batch`'s (the same CTEs, `item_driven.agents_ctes`, `SERVABLE`,
`CLASS_WITH_ROOM`); `next_batch` is the walk's next one, taken (and locked) only when `batch` has nothing to try;
`target` is the first servable item of either whose needs have not failed in this decision; the candidate query
(`engine._candidate_sql`'s order) is four CTEs gated on the target's class and skill count (`_candidates`); the
writes read the chosen agent as `recording` does; on the first batch the full classes' items get their reason
(`_explain_cte`); and the final SELECT returns the batches' rows, the target, and on its row what `given` needs
(the agent as locked, the conversation as it was, customer, channel, last text, reporting context).

Why this is `_decide`'s walk: within one batch, `_decide` tries the candidate query on the first servable item whose
needs have not failed; every item before it fails without one (`route_item(hopeless=True)`, or its needs already
failed). That is the item `target` picks. `walk` then runs the same failure branch for the items passed over
(`note_failures`, without building their models when their reason is fresh) and `given` for the target; when the
target found nobody, `services._decide` goes on with the rest of its batch one item at a time as before.
tests/test_routing_single_statement.py checks the decisions against the statement-by-statement walk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone, translation

from customers.models import Customer
from interactions.models import Channel, Conversation, Interaction
from omnidesk import prepared
from reporting import events as reporting_events  # rep: the answered event's context, read by the same statement
from routing import capacity, engine, item_driven, recording, rows
from routing.assignments import given
from routing.models import AgentProfile, AgentSkill, Assignment, Queue, RoutingItem

CLASSES = engine.CLASSES

# A decision's failed needs (route_item's `failed` keys): (queue id, class, wanted skill ids, refusals).
Failed = dict[tuple[Any, ...], str]


class Part(NamedTuple):
    """One of the walk's batches, as the statement locked it."""

    batch: item_driven.Batch
    wanted: list[list[int]]  # per item, the wanted skill ids (engine.wanted_skill_ids)
    target: int | None  # the position of the item the statement tried, if it was in this batch


class Attempt(NamedTuple):
    # The batch after `after`, and the walk's next one when the first has no item to try (as `_decide` would take
    # it next: after the first's last item, the first's needs blocked); else only the first.
    parts: list[Part]
    assigned: tuple[AgentProfile, recording.Recorded] | None  # who got the target, when someone did


def attempt(
    *, queue: Queue, after: RoutingItem | None, blocked: list[item_driven.Needs], failed: Failed, now: datetime
) -> Attempt:
    """The next locked batch of `queue` (as `item_driven.next_batch` takes it), the next one too when the first has
    nothing to try, and, in the same statement, the target's assignment to the best agent now if one can take it."""
    sql, params = statement(queue=queue, after=after, blocked=blocked, failed=failed, now=now)
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, params, owner="routing")
        fetched = cursor.fetchall()
    head = fetched[0]
    classes = frozenset(c for c, free in zip(CLASSES, head[1:4], strict=True) if free)
    width = rows.width(RoutingItem)
    parts: list[Part] = []
    assigned = None
    for number in (1, 2):
        taken = [row for row in fetched if row[5] == number]
        if number == 2 and (not parts[0].batch.items or parts[0].target is not None):
            break  # not taken: the first batch had an item to try (or none at all)
        items = item_driven.LazyItems([row[6 : 6 + width] for row in taken])
        batch = item_driven.Batch(classes, bool(head[0]), items, [bool(row[6 + width]) for row in taken])
        target = next((n for n, row in enumerate(taken) if row[6] == head[4]), None)
        parts.append(Part(batch, [list(row[7 + width]) for row in taken], target))
        if target is not None and taken[target][9 + width] is not None:
            agent_at, agent_width = 9 + width, rows.width(AgentProfile) + rows.width(get_user_model())
            row = taken[target]
            profile = rows.agent_from_row(row[agent_at : agent_at + agent_width])
            assigned = profile, recording.recorded_from(row[agent_at + agent_width :])
    return Attempt(parts, assigned)


def statement(
    *, queue: Queue, after: RoutingItem | None, blocked: list[item_driven.Needs], failed: Failed, now: datetime
) -> tuple[str, dict[str, Any]]:
    """`attempt`'s statement and parameters (bench/routing_profile.py explains it with the same)."""
    params: dict[str, Any] = {
        "queue": queue.pk,
        "blocked": [blocked_key(needs) for needs in blocked],
        "failed": [_failed_key(key[1], key[2]) for key in failed if key[0] == queue.pk and not key[3]],
        "now": now,
        "source": Assignment.Source.ROUTED.value,
        "state": RoutingItem.State.ASSIGNED.value,
    }
    if after is not None:
        params.update(rank=after.rank, queued_at=after.queued_at, after=after.pk)
    else:
        params.update(_reasons(translation.get_language()))
    return _statement(after is not None), params


class Step(NamedTuple):
    item: RoutingItem | None  # the item given, if any
    batch: item_driven.Batch | None  # the last batch walked; None: nothing left to walk, the decision found none
    start: int  # where in `batch` the caller goes on item by item (the target found nobody), else its length


def walk(*, queue: Queue, after: RoutingItem | None, blocked: list[item_driven.Needs], failed: Failed) -> Step:
    """`services._decide`'s walk over one statement's batches: the failure branch for the items passed over and
    `given` for the target when an agent took it (the full classes' reason, on the first batch, is in the
    statement). `blocked` and `failed` are the decision's, updated as `_decide` updates them."""
    now = timezone.now()
    tried = attempt(queue=queue, after=after, blocked=blocked, failed=failed, now=now)
    first = tried.parts[0].batch
    if not first.classes or not first.items:
        return Step(None, None, 0)
    for part in tried.parts:
        if not part.batch.items:
            return Step(None, None, 0)  # the walk's next batch, taken in the same statement, is empty
        start = len(part.batch.items) if part.target is None else part.target + (tried.assigned is None)
        note_failures(queue=queue, part=part, upto=start, failed=failed, blocked=blocked)
        if part.target is not None and tried.assigned is not None:
            item = part.batch.items[part.target]
            item.queue = queue
            given(item=item, profile=tried.assigned[0], recorded=tried.assigned[1], now=now)
            return Step(item, part.batch, start)
    return Step(None, part.batch, start)


@lru_cache(maxsize=16)
def _reasons(language: str | None) -> dict[str, str]:
    """The full classes' reasons as the statement takes them, in the active language: the same texts
    `engine.full_class_reason` gives, translated once per language instead of four gettext calls per decision."""
    reasons = {f"full_{c}": engine.full_class_reason(c, available=True) for c in CLASSES}
    reasons["nobody"] = engine.full_class_reason(CLASSES[0], available=False)
    return reasons


def _failed_key(capacity_class: str, skill_ids: Sequence[int]) -> str:
    """A failed needs' class and wanted skills as the statement spells them (`target`'s NOT … = ANY)."""
    return f"{capacity_class}:{','.join(str(s) for s in skill_ids)}"


_FIELDS = [field.attname for field in RoutingItem._meta.concrete_fields]
_REASON, _UPDATED = _FIELDS.index("reason"), _FIELDS.index("updated_at")
_CLASS, _OVERFLOWED = _FIELDS.index("capacity_class"), _FIELDS.index("overflowed_at")
_REQUIRED, _OPTIONAL = _FIELDS.index("required_skill_ids"), _FIELDS.index("optional_skill_ids")


def note_failures(*, queue: Queue, part: Part, upto: int, failed: Failed, blocked: list[item_driven.Needs]) -> None:
    """`route_item`'s failure branch (`engine.note_waiting`) and `_decide`'s blocking, for the batch's items before
    position `upto`, in order: none of them found an agent (push queue, no refusals).

    An item whose reason is fresh keeps it and only lends it to `failed`, as note_waiting does: no model is built
    for it. Any other item is built and goes through note_waiting itself."""
    items = part.batch.items
    assert isinstance(items, item_driven.LazyItems)
    for position in range(upto):
        raw = items.raw(position)
        skill_ids = part.wanted[position]
        needs = (queue.pk, raw[_CLASS], tuple(skill_ids), ())
        reason, updated_at = raw[_REASON], raw[_UPDATED]
        if reason and updated_at >= timezone.now() - engine.REASON_TTL:
            failed[needs] = failed.get(needs, reason)
        else:
            item = items[position]
            item.queue = queue
            engine.note_waiting(item=item, skill_ids=skill_ids, refused=(), needs=needs, failed=failed)
        item_needs = (raw[_CLASS], json.loads(raw[_REQUIRED]), json.loads(raw[_OPTIONAL]), raw[_OVERFLOWED] is None)
        if item_needs not in blocked:
            blocked.append(item_needs)


_WANTED = (
    "ARRAY(SELECT DISTINCT w.value::bigint FROM jsonb_array_elements_text(i.required_skill_ids || CASE WHEN"
    " i.overflowed_at IS NULL THEN i.optional_skill_ids ELSE '[]'::jsonb END) w ORDER BY 1)"
)
# item_driven.batch_where's keyset and blocked needs, with named parameters (the blocked needs as one array, so that
# the statement's text does not depend on how many).
_KEYSET = (
    "(i.rank < %(rank)s OR (i.rank = %(rank)s AND i.queued_at > %(queued_at)s)"
    " OR (i.rank = %(rank)s AND i.queued_at = %(queued_at)s AND i.id > %(after)s))"
)
# The blocked needs as text keys (`blocked_key`): a filter on the index walk, where a join with the list made the
# planner sort every waiting item of the queue.
_NEEDS_KEY = (
    "(i.capacity_class || '|' || i.required_skill_ids::text || '|' || i.optional_skill_ids::text || '|'"
    " || (i.overflowed_at IS NULL)::text)"
)
_UNBLOCKED = f"NOT ({_NEEDS_KEY} = ANY(%(blocked)s::text[]))"


def blocked_key(needs: item_driven.Needs) -> str:
    """Blocked needs as `_UNBLOCKED` spells an item's: jsonb's text of a list of integers is json.dumps's, so two
    keys are equal exactly when the lists are (batch_where compares them as jsonb)."""
    capacity_class, required, optional, not_overflowed = needs
    return f"{capacity_class}|{json.dumps(required)}|{json.dumps(optional)}|{'true' if not_overflowed else 'false'}"


@lru_cache(maxsize=2)
def _statement(after: bool) -> str:
    items, profiles = RoutingItem._meta.db_table, AgentProfile._meta.db_table
    where = ["i.queue_id = %(queue)s", "i.state = 'waiting'", *([_KEYSET] if after else []), _UNBLOCKED]
    where.append(item_driven.CLASS_WITH_ROOM)
    # The walk's next batch: after the first's last item, without the first's needs (all failed) nor its items'
    # failed needs; taken (and locked) only when the first has nothing to try.
    last = "(SELECT x.{0} FROM batch x ORDER BY x.rank, x.queued_at DESC, x.id DESC LIMIT 1)"
    following = [
        "i.queue_id = %(queue)s",
        "i.state = 'waiting'",
        _KEYSET.replace("%(rank)s", last.format("rank"))
        .replace("%(queued_at)s", last.format("queued_at"))
        .replace("%(after)s", last.format("id")),
        _UNBLOCKED,
        f"NOT ({_NEEDS_KEY} = ANY(ARRAY(SELECT x.needs_key FROM batch x)))",
        item_driven.CLASS_WITH_ROOM,
        "EXISTS (SELECT 1 FROM batch)",
        "NOT EXISTS (SELECT 1 FROM batch x WHERE x.servable AND NOT (x.failed_key = ANY(%(failed)s::text[])))",
    ]

    def locked(conditions: list[str]) -> str:
        return (
            f"SELECT b.* FROM free CROSS JOIN LATERAL (SELECT {rows.columns(RoutingItem, alias='i')},"
            f" {_WANTED} AS wanted, {_NEEDS_KEY} AS needs_key FROM {items} i WHERE {' AND '.join(conditions)}"
            f" ORDER BY i.rank DESC, i.queued_at, i.id LIMIT {int(engine.SCAN_BATCH)} FOR UPDATE OF i SKIP LOCKED) b"
        )

    def servable(rows_cte: str, skilled: str) -> str:
        # item_driven.SERVABLE, with the per-skill rooms of the skills the batch wants only (`_skilled`).
        flags = " ".join(f"WHEN '{c}' THEN free.{c}" for c in CLASSES)
        skill_flags = " ".join(f"WHEN '{c}' THEN k.{c}" for c in CLASSES)
        return (
            f"SELECT b.*, (CASE b.capacity_class {flags} ELSE false END) AND b.wanted <@ ARRAY(SELECT k.skill_id"
            f" FROM {skilled} k WHERE CASE b.capacity_class {skill_flags} ELSE false END) AS servable,"
            f" b.capacity_class || ':' || array_to_string(b.wanted, ',') AS failed_key"
            f" FROM {rows_cte} b CROSS JOIN free"
        )

    ctes = [
        item_driven.agents_ctes(queue="%(queue)s", skilled=False),
        f"batch_rows AS MATERIALIZED ({locked(where)})",
        _skilled("batch_skilled", "batch_rows"),
        f"batch AS MATERIALIZED ({servable('batch_rows', 'batch_skilled')})",
        f"next_rows AS MATERIALIZED ({locked(following)})",
        _skilled("next_skilled", "next_rows"),
        f"next_batch AS MATERIALIZED ({servable('next_rows', 'next_skilled')})",
        "walked AS MATERIALIZED (SELECT 1 AS part, * FROM batch UNION ALL SELECT 2, * FROM next_batch)",
        "target AS MATERIALIZED (SELECT b.id, b.conversation_id, b.queue_id, b.capacity_class, b.wanted,"
        " cardinality(b.wanted) AS nwanted FROM walked b WHERE b.servable"
        " AND NOT (b.failed_key = ANY(%(failed)s::text[]))"
        " AND (b.part = 1 OR NOT (b.failed_key = ANY(ARRAY(SELECT x.failed_key FROM batch x))))"
        " ORDER BY b.part, b.rank DESC, b.queued_at, b.id LIMIT 1)",
    ]
    branches = []
    for name, candidate in _candidates():
        branches.append(name)
        ctes.append(f"{name} AS MATERIALIZED (SELECT x.* FROM target t CROSS JOIN LATERAL ({candidate}) x)")
    union = " UNION ALL ".join(f"SELECT * FROM {name}" for name in branches)
    # One branch at most returns a row; the LIMIT tells the planner so (it then finds the agent's row by its key).
    ctes.append(f"chosen AS MATERIALIZED (SELECT * FROM ({union}) u LIMIT 1)")
    loads = ", ".join(
        f"{c}_load = CASE WHEN t.capacity_class = '{c}' THEN c.p_{c}_load + 1 ELSE x.{c}_load END" for c in CLASSES
    )
    ctes += [
        f"assigned AS (INSERT INTO {Assignment._meta.db_table}"
        " (conversation_id, agent_id, queue_id, capacity_class, source, started_at, end_reason)"
        " SELECT t.conversation_id, c.p_user_id, t.queue_id, t.capacity_class, %(source)s, %(now)s, ''"
        " FROM target t CROSS JOIN chosen c)",
        f"item AS (UPDATE {items} x SET state = %(state)s, agent_id = c.p_user_id, reason = '', updated_at = %(now)s"
        " FROM target t CROSS JOIN chosen c WHERE x.id = t.id)",
        f"conversation AS (UPDATE {Conversation._meta.db_table} x SET assignee_id = c.p_user_id,"
        " assigned_at = %(now)s FROM target t CROSS JOIN chosen c WHERE x.id = t.conversation_id)",
        f"agent AS (UPDATE {profiles} x SET {loads}, last_assigned_at = %(now)s FROM target t CROSS JOIN chosen c"
        " WHERE x.id = c.p_id)",
    ]
    agent = ", ".join(f"c.p_{name}" for name in rows.column_names(AgentProfile))
    users = get_user_model()
    ctes.append(
        f"given AS MATERIALIZED (SELECT t.id AS target_id, {agent}, {rows.columns(users, alias='u')},"
        f" {rows.columns(Conversation, alias='v')},"
        f" {rows.columns(Customer, alias='cu')}, {rows.columns(Channel, alias='ch')},"
        f" (SELECT l.text FROM {Interaction._meta.db_table} l WHERE l.conversation_id = v.id"
        f" ORDER BY l.created_at DESC, l.id DESC LIMIT 1), {reporting_events.context_select(conversation='v.id')}"
        f" FROM target t CROSS JOIN chosen c JOIN {users._meta.db_table} u ON u.id = c.p_user_id"
        f" JOIN {Conversation._meta.db_table} v ON v.id = t.conversation_id"
        f" JOIN {Customer._meta.db_table} cu ON cu.id = v.customer_id"
        f" JOIN {Channel._meta.db_table} ch ON ch.id = v.channel_id"
        f"{reporting_events.context_joins(queue='v.queue_id')})"
    )
    if not after:
        ctes += [_explain_cte(c) for c in CLASSES]
    walked = ", ".join(f"b.{name}" for name in rows.column_names(RoutingItem))
    return (
        f"WITH {', '.join(ctes)} SELECT free.*, (SELECT t.id FROM target t), b.part, {walked}, b.servable, b.wanted,"
        " r.* FROM free LEFT JOIN walked b ON true LEFT JOIN given r ON r.target_id = b.id"
        " ORDER BY b.part, b.rank DESC, b.queued_at, b.id"
    )


def _skilled(name: str, rows_cte: str) -> str:
    """item_driven's `skilled` (per skill, the classes in which an available member holding it has room) for the
    skills the items of `rows_cte` want only: one batch wants one to three of them, and grouping every member's
    skills was a quarter of the statement's CPU."""
    skills = AgentSkill._meta.db_table
    rooms = ", ".join(f"bool_or(p.room_{c}) AS {c}" for c in CLASSES)
    any_room = " OR ".join(f"p.room_{c}" for c in CLASSES)
    return (
        f"{name} AS MATERIALIZED (SELECT s.skill_id, {rooms} FROM agents p JOIN {skills} s ON s.agent_id = p.id"
        f" WHERE s.skill_id = ANY(ARRAY(SELECT DISTINCT w FROM {rows_cte} b CROSS JOIN unnest(b.wanted) w))"
        f" AND ({any_room}) GROUP BY s.skill_id)"
    )


def _explain_cte(capacity_class: str) -> str:
    """`engine.explain_full_classes` for one class, as a CTE of the first batch's statement: when nobody has room in
    the class, its waiting items without a reason get the class's (those a rival holds skipped). The class written
    out, as in engine._EXPLAIN_SQL, keeps the plan on the partial index routingitem_waiting_no_reason; the gates
    are one-time filters, so a class with room costs nothing, and a full class whose items all have their reason
    costs one index probe (`engine.unexplained_gate`)."""
    items = RoutingItem._meta.db_table
    gate = engine.unexplained_gate(queue="%(queue)s", capacity_class=f"'{capacity_class}'")
    return (
        f"explained_{capacity_class} AS (UPDATE {items} x SET reason = CASE WHEN (SELECT f.available FROM free f)"
        f" THEN %(full_{capacity_class})s ELSE %(nobody)s END WHERE x.id IN (SELECT y.id FROM {items} y"
        f" WHERE (SELECT NOT f.{capacity_class} FROM free f) AND {gate} AND y.queue_id = %(queue)s"
        f" AND y.state = 'waiting' AND y.capacity_class = '{capacity_class}' AND y.reason = '' FOR UPDATE SKIP LOCKED))"
    )


def _candidates() -> list[tuple[str, str]]:
    """The candidate query (`engine._candidate_sql`) for the target `t`, as (CTE name, locking query): one per class
    for items without skills, gated on the target's class (each walks its class's order index, migration 0009, and
    stops at the first agent with room); one for items with skills, whose order starts with the mean proficiency
    (a join and a sort of the skills' holders either way), the class's room and load ratio as CASEs on the target's
    class. A branch the gate shuts costs only its executor set-up, which is why there are four and not six.

    The agent's presence, room and load stay conditions on the locked row `p` (PostgreSQL re-checks them on its
    newest version before granting the lock); membership and the user's active flag come from the `agents` CTE, read
    in the statement's snapshot as the query's semi-joins read them. The user's columns are joined afterwards."""
    profiles, skills = AgentProfile._meta.db_table, AgentSkill._meta.db_table
    columns = ", ".join(f"p.{name} AS p_{name}" for name in rows.column_names(AgentProfile))
    available = "p.presence = 'available' AND p.takes_work AND p.id IN (SELECT a.id FROM agents a)"
    idle = "p.last_assigned_at ASC NULLS FIRST, p.id LIMIT 1 FOR UPDATE OF p SKIP LOCKED"
    branches = [
        (
            f"candidate_{c}",
            f"SELECT {columns} FROM {profiles} p WHERE t.capacity_class = '{c}' AND t.nwanted = 0 AND {available}"
            # Written as the index's expression, or PostgreSQL sorts every available member instead.
            f" AND {capacity.room_sql(c)} ORDER BY p.{c}_load::float / NULLIF(p.{c}_capacity, 0), {idle}",
        )
        for c in CLASSES
    ]
    room = " ".join(f"WHEN '{c}' THEN {capacity.room_sql(c)}" for c in CLASSES)
    ratio = " ".join(f"WHEN '{c}' THEN p.{c}_load::float / NULLIF(p.{c}_capacity, 0)" for c in CLASSES)
    branches.append(
        (
            "candidate_skilled",
            f"SELECT {columns} FROM {profiles} p JOIN (SELECT s.agent_id, avg(s.proficiency) AS proficiency"
            f" FROM {skills} s WHERE s.skill_id = ANY(t.wanted) GROUP BY s.agent_id HAVING count(*) = t.nwanted) k"
            f" ON k.agent_id = p.id WHERE t.nwanted > 0 AND {available} AND (CASE t.capacity_class {room} END)"
            f" ORDER BY k.proficiency DESC, CASE t.capacity_class {ratio} END, {idle}",
        )
    )
    return branches
