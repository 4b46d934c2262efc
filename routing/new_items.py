"""A new case's routing item, written the way `enqueue_conversation` needs it at ingest: few statements per case.

`enqueue_conversation` sent, before its decision, two reads of the queue's skills, the item's INSERT, an UPDATE of
its skill ids and two reads of its (empty) skill rows (`set_skills` on a new item), then the conversation's UPDATE:
seven statements of the ~14 routing spent per new case. Here the skills are one read, and on PostgreSQL the item,
its skill rows and the conversation's queue are one statement. The values written are the ORM's own: each field's
`pre_save` and `get_db_prep_save`, as `Model.save` computes them (auto_now included); no signal listens to these
models' saves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection

from interactions.models import Conversation
from omnidesk import prepared
from routing.models import Intent, Queue, RoutingItem

# --- a batch's new cases: the routing configuration read once ---------------------------------------------------------
# Every new case of an ingest batch read the intents (all of them) and its queue's skills again: two statements per
# new case for rows that an ingest batch does not change. Within `batch_of_new_cases()` (a mail batch,
# interactions/mail/services.py `mail_batch`) they are read once per batch. Only configuration is remembered, never
# anything routing decides (an agent's load, who is free): those change with every case and are read each time.


@dataclass
class NewCases:
    intents: list[Intent] | None = None
    skills: dict[tuple[int, int | None], tuple[frozenset[int], frozenset[int]]] = field(default_factory=dict)
    # route_item's `failed` (the needs no agent could meet, and why) shared by consecutive new cases, and the
    # savepoint it was found under (see `batch_failures`).
    failed: dict[tuple[Any, ...], str] = field(default_factory=dict)
    failed_under: str | None = None
    # How many savepoints were open when the batch began: the first one opened after is the run's (or a message's).
    depth: int = 0


_new_cases: ContextVar[NewCases | None] = ContextVar("routing_new_cases", default=None)


@contextmanager
def batch_of_new_cases() -> Iterator[None]:
    """Within the block (one ingest batch, one transaction), new cases share the intents and skills read."""
    token = _new_cases.set(NewCases(depth=len(connection.savepoint_ids)))
    try:
        yield
    finally:
        _new_cases.reset(token)


def all_intents() -> list[Intent]:
    """Every intent (routing/intents.py detects among them): read once per batch of new cases, else each time."""
    batch = _new_cases.get()
    if batch is None:
        return list(Intent.objects.all())
    if batch.intents is None:
        batch.intents = list(Intent.objects.all())
    return list(batch.intents)


def note_stored_intent(conversation: Conversation, intent: Intent | None) -> None:
    """Note on a case what its stored intent is now, as interactions.continuity's candidate cases carry it (an
    annotation, not a field): continuity and reporting's `loaded_context` then do not read it again."""
    # Annotations continuity's query adds (`stored_intent_id`, `stored_intent_default`), not model fields.
    conversation.stored_intent_id = intent.pk if intent is not None else None  # type: ignore[attr-defined]
    conversation.stored_intent_default = intent.is_default if intent is not None else False  # type: ignore[attr-defined]


def batch_failures() -> dict[tuple[Any, ...], str] | None:
    """route_item's `failed` for the next new case of the batch: what no agent could take for the batch's earlier new
    cases, as one decision remembers it for its items (routing/services.py `_decide`), so that a case with the same
    needs does not look for an agent again (the candidate query and the waiting reason's, two statements per case).

    Valid only while nothing can have freed an agent since: new cases only ever add load, so the processor forgets
    it after any message that did not open a case (`forget_failures`: a continuing message may reroute its case
    and end an assignment), and it is dropped when the first savepoint opened in the batch changed (the batch's run
    rolled back and its messages are redone one by one, each in a savepoint of its own: what the run assigned was
    undone). None outside a batch of new cases."""
    batch = _new_cases.get()
    if batch is None:
        return None
    opened = connection.savepoint_ids[batch.depth : batch.depth + 1]
    under = opened[0] if opened else None
    if under != batch.failed_under:
        batch.failed, batch.failed_under = {}, under
    return batch.failed


def forget_failures() -> None:
    """Something other than a new case happened in the batch: an agent may be free now (see `batch_failures`)."""
    batch = _new_cases.get()
    if batch is not None:
        batch.failed = {}


def wanted_skills(*, queue: Queue, intent: Intent | None) -> tuple[set[int], set[int]]:
    """The required (the queue's and the intent's) and optional (the queue's) skill ids of a new item: one read, once
    per batch of new cases for the same queue and intent."""
    batch = _new_cases.get()
    key = (queue.pk, intent.pk if intent is not None else None)
    if batch is not None and key in batch.skills:
        required_ids, optional_ids = batch.skills[key]
        return set(required_ids), set(optional_ids)
    required, optional = _read_skills(queue=queue, intent=intent)
    if batch is not None:
        batch.skills[key] = (frozenset(required), frozenset(optional))
    return required, optional


def _read_skills(*, queue: Queue, intent: Intent | None) -> tuple[set[int], set[int]]:
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
        prepared.execute(cursor, _statement(), params, owner="routing")
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
