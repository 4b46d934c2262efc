"""A new case's routing item, written the way `enqueue_conversation` needs it at ingest: few statements per case.

`enqueue_conversation` sent, before its decision, two reads of the queue's skills, the item's INSERT, an UPDATE of
its skill ids and two reads of its (empty) skill rows (`set_skills` on a new item), then the conversation's UPDATE:
seven statements of the ~14 routing spent per new case. Here the skills are one read, and on PostgreSQL the item,
its skill rows and the conversation's queue are one statement. The values written are the ORM's own: each field's
`pre_save` and `get_db_prep_save`, as `Model.save` computes them (auto_now included); no signal listens to these
models' saves.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection

from interactions.models import Conversation
from routing import prepared
from routing.models import Intent, Queue, RoutingItem


def wanted_skills(*, queue: Queue, intent: Intent | None) -> tuple[set[int], set[int]]:
    """The required (the queue's and the intent's) and optional (the queue's) skill ids of a new item: one read."""
    required_queue, optional_queue = Queue.required_skills.through, Queue.optional_skills.through
    parts = [
        f"SELECT 1, skill_id FROM {required_queue._meta.db_table} WHERE queue_id = %s",
        f"SELECT 2, skill_id FROM {optional_queue._meta.db_table} WHERE queue_id = %s",
    ]
    params: list[Any] = [queue.pk, queue.pk]
    if intent is not None:
        parts.append(f"SELECT 1, skill_id FROM {Intent.required_skills.through._meta.db_table} WHERE intent_id = %s")
        params.append(intent.pk)
    required: set[int] = set()
    optional: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, skill_id in cursor.fetchall():
            (required if kind == 1 else optional).add(skill_id)
    return required, optional


def create_item(
    *, item: RoutingItem, required: set[int], optional: set[int], conversation: Conversation, now: datetime
) -> None:
    """Save the new `item` with these skills (RoutingItem.set_skills' two forms), and set the conversation's queue
    and queue time to the item's (`conversation.save(update_fields=["queue", "queued_at", "updated_at"])`)."""
    item.required_skill_ids = sorted(required)
    item.optional_skill_ids = sorted(optional - required)
    conversation.queue = item.queue
    conversation.queued_at = now
    if connection.vendor != "postgresql":
        item.save(force_insert=True)
        item.required_skills.set(item.required_skill_ids)
        item.optional_skills.set(item.optional_skill_ids)
        conversation.save(update_fields=["queue", "queued_at", "updated_at"])
        return
    fields = _item_fields()
    values = [f.get_db_prep_save(f.pre_save(item, True), connection) for f in fields]
    touched = _conversation_fields()
    changes = [f.get_db_prep_save(f.pre_save(conversation, False), connection) for f in touched]
    params = [
        *values,
        item.required_skill_ids,
        item.optional_skill_ids,
        *changes,
        conversation.pk,
    ]
    with connection.cursor() as cursor:
        prepared.execute(cursor, _statement(), params)
        item.pk = cursor.fetchone()[0]
    item._state.adding = False
    item._state.db = connection.alias


def _item_fields() -> list[Any]:
    return [f for f in RoutingItem._meta.concrete_fields if not f.primary_key]


def _conversation_fields() -> list[Any]:
    return [Conversation._meta.get_field(name) for name in ("queue", "queued_at", "updated_at")]


@lru_cache(maxsize=1)
def _statement() -> str:
    fields = _item_fields()
    columns = ", ".join(f.column for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    required, optional = RoutingItem.required_skills.through, RoutingItem.optional_skills.through
    changes = ", ".join(f"{f.column} = %s" for f in _conversation_fields())
    return (
        f"WITH i AS (INSERT INTO {RoutingItem._meta.db_table} ({columns}) VALUES ({placeholders}) RETURNING id),"
        f" r AS (INSERT INTO {required._meta.db_table} (routingitem_id, skill_id)"
        " SELECT i.id, s FROM i, unnest(%s::bigint[]) s),"
        f" o AS (INSERT INTO {optional._meta.db_table} (routingitem_id, skill_id)"
        " SELECT i.id, s FROM i, unnest(%s::bigint[]) s),"
        f" c AS (UPDATE {Conversation._meta.db_table} SET {changes} WHERE id = %s)"
        " SELECT id FROM i"
    )
