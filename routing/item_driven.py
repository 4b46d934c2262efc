"""The item-driven decision's locking batch (`route_next`) as one hand-written statement.

The ORM form (`engine.waiting_items(...).filter(...).exclude(blocked)`, plus the keyset condition on later batches)
was compiled anew on every decision: building the query cost more CPU than PostgreSQL spent running it on the
partial index `routingitem_waiting_order (queue, rank DESC, queued_at, id) WHERE state = 'waiting'`. This is the
same statement, rows and lock (FOR UPDATE SKIP LOCKED), with the column names taken from the model only.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from django.db import connection

from routing import engine, rows
from routing.models import Queue, RoutingItem

# The needs of an item no agent could meet in this decision (engine.same_needs as values): class, required and
# optional skill ids (as stored), and whether it has not overflowed.
Needs = tuple[str, list[int], list[int], bool]


def needs_of(item: RoutingItem) -> Needs:
    return (item.capacity_class, item.required_skill_ids, item.optional_skill_ids, item.overflowed_at is None)


def lock_waiting_batch(
    *, queue: Queue, classes: Collection[str], after: RoutingItem | None, blocked: list[Needs]
) -> list[RoutingItem]:
    """The next SCAN_BATCH waiting items of `queue` in routing order, in `classes`, after `after`, none of whose
    needs is in `blocked`: locked, skipping those a rival holds."""
    if connection.vendor != "postgresql":
        return _lock_waiting_batch_orm(queue=queue, classes=classes, after=after, blocked=blocked)
    where = ["i.queue_id = %s", "i.state = 'waiting'", "i.capacity_class = ANY(%s)"]
    params: list[Any] = [queue.pk, list(classes)]
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
    columns = rows.columns(RoutingItem, alias="i")
    sql = (
        f"SELECT {columns} FROM {RoutingItem._meta.db_table} i WHERE {' AND '.join(where)}"
        f" ORDER BY i.rank DESC, i.queued_at, i.id LIMIT {int(engine.SCAN_BATCH)} FOR UPDATE SKIP LOCKED"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return [rows.from_row(RoutingItem, row) for row in fetched]


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
