"""A batch's continuing messages written in bulk: one UPDATE of their cases, one INSERT of their entries.

Message by message, a customer's further message in an open case cost an UPDATE of the case, an INSERT of the entry,
a SELECT … FOR UPDATE of its routing item, an INSERT of its reporting event and the follow-ups' statement, inside a
savepoint of its own (docs/performance-ingest.md). Within `deferring()` (the batch's loop, interactions/inbound.py)
those writes are noted instead and sent together by `flush()`:

- the entry gets its id at once from ids the run draws from the table's sequence in one statement (the announcement,
  an attachment or a mail's reference need it), and every field as its `save()` would have set it (`created_at`);
  the INSERT of all the run's entries, and of the rows that refer to them (`defer_create`), waits for the flush;
- the case's changed fields (`touch_case`) are written by one UPDATE per run;
- reporting buffers the customer messages' events (reporting/events.py `deferring`) and writes them, with their
  follow-ups, in one INSERT and one statement;
- the routing items of the batch's cases are locked in one statement, the first time a message needs one.

Everything else goes straight to the database, so whatever reads what the run has written so far flushes first
(`flush()`: a new case, a case put back to work, a case routing moves). The batch runs all of it in one savepoint:
when anything fails, the run rolls back and the batch is redone message by message, each in its own savepoint, so a
poison message is still isolated (interactions/inbound.py). SQLite (the embedded default without DATABASE_URL) keeps
the per-message writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import QuerySet
from django.db.models.signals import post_save, pre_save

from interactions.models import Conversation, Interaction
from omnidesk import compiled_queries
from reporting import events as reporting_events
from routing.models import RoutingItem

ModelT = TypeVar("ModelT", bound=models.Model)


@dataclass
class Run:
    size: int  # the batch's size: how many ids to draw at once
    ids: list[int] = field(default_factory=list)
    # Rows to INSERT, per model, in the order they were made.
    rows: dict[type[models.Model], list[models.Model]] = field(default_factory=dict)
    # Cases whose fields changed in memory, and which fields, to UPDATE.
    cases: dict[int, tuple[Conversation, set[str]]] = field(default_factory=dict)
    # (conversation id, channel kind) of the entries not inserted yet: continuity asks whether a case has entries of
    # a kind (interactions/continuity.py).
    kinds: set[tuple[int, str]] = field(default_factory=set)
    # The batch's routing items by conversation id, locked in one statement (None: the case has none); None: not
    # locked yet.
    items: dict[int, RoutingItem | None] | None = None


_run: ContextVar[Run | None] = ContextVar("inbound_bulk_run", default=None)


def active() -> bool:
    """True within a batch's `deferring()` block on PostgreSQL: continuing messages may note their writes."""
    return _run.get() is not None


@contextmanager
def deferring(*, expected: int) -> Iterator[None]:
    """Within the block, writes noted here are sent by `flush()`, at the latest when the block ends without error.

    The caller runs the block in a savepoint and, when it raises, redoes its work without deferring: the noted writes
    are dropped with it. `expected`: how many entries the block may make (the batch's size)."""
    if connection.vendor != "postgresql" or _run.get() is not None:
        yield
        return
    token = _run.set(Run(size=max(expected, 1)))
    try:
        with reporting_events.deferring():
            yield
            flush()
    finally:
        _run.reset(token)


def next_id(model: type[models.Model]) -> int:
    """An id for a new row of `model` (Interaction): the run draws what it expects to need in one statement."""
    run = _run.get()
    assert run is not None, "only within deferring()"
    if not run.ids:
        with connection.cursor() as cursor:
            # A batch's size again when it runs out (an email processes parents of other batches ahead of their
            # turn): ids left unused at the end are a gap in the sequence, which nothing relies on.
            cursor.execute(_draw_sql(model._meta.db_table), [run.size])
            run.ids = [row[0] for row in cursor.fetchall()]
            run.ids.reverse()  # pop() from the end hands them out in ascending order
    return run.ids.pop()


@lru_cache(maxsize=8)
def _draw_sql(table: str) -> str:
    return f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)"


def add_entry(interaction: Interaction, *, channel_kind: str) -> Interaction:
    """`Interaction.objects.create()` for a continuing message: the entry has its id and fields now, its row at the
    flush."""
    interaction.pk = next_id(Interaction)
    defer_create(interaction)
    run = _run.get()
    assert run is not None
    run.kinds.add((interaction.conversation_id, channel_kind))
    return interaction


def defer_create(instance: models.Model) -> models.Model:
    """`instance.save()` of a new row, its INSERT at the flush. Fields take their values now, as `save()` would
    (`auto_now_add`, defaults); a row without an id gets the database's at the flush (nobody may need it before)."""
    run = _run.get()
    assert run is not None, "only within deferring()"
    for model_field in instance._meta.concrete_fields:
        model_field.pre_save(instance, True)
    instance._state.adding = False
    instance._state.db = "default"
    run.rows.setdefault(type(instance), []).append(instance)
    return instance


def pending(model: type[models.Model]) -> list[Any]:
    """The rows of `model` noted and not inserted yet (a mail's references: threading looks them up too)."""
    run = _run.get()
    return [] if run is None else list(run.rows.get(model, ()))


def has_pending_entry(*, conversation_id: int, channel_kind: str) -> bool:
    run = _run.get()
    return run is not None and (conversation_id, channel_kind) in run.kinds


def touch_case(case: Conversation, *fields: str) -> None:
    """`case.save(update_fields=[*fields, "updated_at"])`, its UPDATE at the flush (with the values then in memory:
    the last message's)."""
    run = _run.get()
    assert run is not None, "only within deferring()"
    Conversation._meta.get_field("updated_at").pre_save(case, False)
    _case, noted = run.cases.get(case.pk, (case, set()))
    run.cases[case.pk] = (case, noted | {*fields, "updated_at"})


def locked_routing_item(
    *, conversation_id: int, candidates: Callable[[], Iterable[int]]
) -> tuple[bool, RoutingItem | None]:
    """(known, item): the case's routing item, locked. The first ask locks the items of every case `candidates()`
    names (the batch's cases the rule may continue) in one statement; (False, None) for a case outside them (one the
    batch opened), which the caller looks up itself. `candidates` is called once per run (listing the batch's cases
    for every message was quadratic in the batch's size)."""
    run = _run.get()
    if run is None:
        return False, None
    if run.items is None:
        ids = set(candidates())
        run.items = dict.fromkeys(ids)
        if ids:
            for item in compiled_queries.fetch(items_to_lock, conversation_ids=sorted(ids)):
                run.items[item.conversation_id] = item
    if conversation_id not in run.items:
        return False, None
    return True, run.items[conversation_id]


def items_to_lock(*, conversation_ids: list[int]) -> QuerySet[RoutingItem]:
    """The routing items of the batch's cases, locked in id order (compiled once per number of cases)."""
    return RoutingItem.objects.select_for_update().filter(conversation_id__in=conversation_ids).order_by("pk")


def forget_routing_item(*, conversation_id: int) -> None:
    """Routing moved the case (its item changed through another instance): look it up again next time."""
    run = _run.get()
    if run is not None and run.items is not None:
        run.items.pop(conversation_id, None)


def flush() -> None:
    """Write what the run noted: the cases' UPDATE, the rows' INSERTs, reporting's events. Nothing when empty."""
    run = _run.get()
    if run is None:
        return
    if run.cases:
        _update_cases(list(run.cases.values()))
        run.cases.clear()
    for model, instances in list(run.rows.items()):
        _insert(model, instances)
    rows, run.rows = run.rows, {}
    run.kinds.clear()
    reporting_events.flush_deferred()
    for model, instances in rows.items():
        # Receivers of post_save ran at each save() (contact/handoff.py joins a contact form's mail).
        if post_save.has_listeners(model):
            for instance in instances:
                post_save.send(sender=model, instance=instance, created=True, update_fields=None, raw=False)


def save_case_now(case: Conversation, *fields: str) -> None:
    """`case.save(update_fields=[*fields, "updated_at"])` of a continuing message outside a run (a batch of one): the
    run's UPDATE statement, sent now, without the ORM's save machinery and compilation (docs/performance-chat.md).
    Through `save()` when anything listens to a Conversation's save signals, which that statement does not send."""
    if (
        connection.vendor != "postgresql"
        or pre_save.has_listeners(Conversation)
        or post_save.has_listeners(Conversation)
    ):
        case.save(update_fields=[*fields, "updated_at"])
        return
    Conversation._meta.get_field("updated_at").pre_save(case, False)
    _update_cases([(case, {*fields, "updated_at"})])


def create_now(instance: ModelT) -> ModelT:
    """`instance.save()` of a new row outside a run: the run's INSERT, sent now (its id from RETURNING), then its
    post_save receivers as `save()` runs them. Through `save()` when anything listens to its pre_save."""
    model = type(instance)
    if connection.vendor != "postgresql" or pre_save.has_listeners(model):
        instance.save(force_insert=True)
        return instance
    for model_field in instance._meta.concrete_fields:
        model_field.pre_save(instance, True)
    _insert(model, [instance])
    instance._state.adding = False
    instance._state.db = "default"
    if post_save.has_listeners(model):
        post_save.send(sender=model, instance=instance, created=True, update_fields=None, raw=False, using="default")
    return instance


def create_case_now(case: Conversation, entry: Interaction) -> None:
    """`create_now(case)` then `create_now(entry)` (the case's first entry, `entry.conversation` being `case`), in
    one round trip: the case's INSERT in a WITH clause whose id the entry's INSERT takes. The same rows, ids from the
    same sequences; the entry's post_save receivers run after both rows exist, as before, since a case's save
    signals have no receiver (else, and for pre_save receivers of either, the two `create_now`)."""
    if (
        connection.vendor != "postgresql"
        or pre_save.has_listeners(Conversation)
        or post_save.has_listeners(Conversation)
        or pre_save.has_listeners(Interaction)
        or case.pk is not None
        or entry.pk is not None
    ):
        create_now(case)
        entry.conversation = case
        create_now(entry)
        return
    for instance in (case, entry):
        for model_field in instance._meta.concrete_fields:
            model_field.pre_save(instance, True)
    db = connections[DEFAULT_DB_ALIAS]
    case_fields = [f for f in Conversation._meta.concrete_fields if not f.primary_key]
    entry_fields = [f for f in Interaction._meta.concrete_fields if not f.primary_key]
    case_row = _prepared_row(case, [(f, _kind_of(f)) for f in case_fields], db)
    link = Interaction._meta.get_field("conversation")
    entry_row = _prepared_row(entry, [(f, _kind_of(f)) for f in entry_fields if f is not link], db)
    placeholders = ", ".join("(SELECT id FROM new_case)" if f is link else "%s" for f in entry_fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH new_case AS (INSERT INTO {_q(Conversation._meta.db_table)}"
            f" ({', '.join(_q(f.column) for f in case_fields)}) VALUES ({', '.join(['%s'] * len(case_fields))})"
            " RETURNING id)"
            f" INSERT INTO {_q(Interaction._meta.db_table)} ({', '.join(_q(f.column) for f in entry_fields)})"
            f" VALUES ({placeholders}) RETURNING conversation_id, id",
            [*case_row, *entry_row],
        )
        case.pk, entry.pk = cursor.fetchone()
    for instance in (case, entry):
        instance._state.adding = False
        instance._state.db = "default"
    entry.conversation = case  # its conversation_id, and the case itself as the entry's cached conversation
    if post_save.has_listeners(Interaction):
        post_save.send(sender=Interaction, instance=entry, created=True, update_fields=None, raw=False, using="default")


# Fields whose `get_db_prep_save` on PostgreSQL gives back a value of these types as it is: for those, the value
# is the parameter. `_prepared_row` then skips Django's chain of calls per field (~33 per continuing message, through
# the thread-local connection proxy: ~a tenth of the message's CPU in a batch, docs/performance-ingest.md).
_TEXT = (models.CharField, models.TextField)
_INTEGER: tuple[type[models.Field[Any, Any]], ...] = (
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
    models.AutoField,
    models.BigAutoField,
)


def _kind_of(field: models.Field[Any, Any]) -> str:
    """How `_prepared_row` passes the field's value: "text", "int", "bool", "moment" as it is (when of that type),
    else "" (through `get_db_prep_save`). Exact classes only: a subclass may prepare its values its own way."""
    if isinstance(field, models.ForeignKey):
        target = field.target_field
        return "int" if type(target) in _INTEGER else ""
    if type(field) in _TEXT:
        return "text"
    if type(field) in _INTEGER:
        return "int"
    if type(field) is models.BooleanField:
        return "bool"
    if type(field) is models.DateTimeField:
        return "moment"
    return ""


def _prepared_row(instance: models.Model, fields: list[tuple[models.Field[Any, Any], str]], db: Any) -> list[Any]:
    """`[f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields]` (see `_kind_of`)."""
    row: list[Any] = []
    for model_field, kind in fields:
        value = getattr(instance, model_field.attname)
        if kind and value is None:
            row.append(None)  # what each of these kinds prepares None into
        elif (
            (kind == "text" and isinstance(value, str))
            or (kind == "int" and type(value) is int)
            or (kind == "bool" and type(value) is bool)
            or (kind == "moment" and type(value) is datetime and value.tzinfo is not None)
        ):
            row.append(value)
        else:
            row.append(model_field.get_db_prep_save(value, db))
    return row


def _update_cases(cases: list[tuple[Conversation, set[str]]]) -> None:
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: each of its attributes is a thread-local lookup
    by_fields: dict[tuple[str, ...], list[Conversation]] = {}
    for case, noted in cases:
        by_fields.setdefault(tuple(sorted(noted)), []).append(case)
    for names, group in by_fields.items():
        fields = [_concrete(Conversation, name) for name in names]
        columns = ", ".join(f"{_q(f.column)} = v.{_q(f.column)}" for f in fields)
        row = "(" + ", ".join(["%s::bigint", *(f"%s::{f.db_type(db)}" for f in fields)]) + ")"
        kinds = [(f, _kind_of(f)) for f in fields]
        params: list[Any] = []
        for case in group:
            params.append(case.pk)
            params.extend(_prepared_row(case, kinds, db))
        names_sql = ", ".join(["id", *(_q(f.column) for f in fields)])
        table = Conversation._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_q(table)} AS t SET {columns} FROM (VALUES {', '.join([row] * len(group))})"
                f" AS v({names_sql}) WHERE t.id = v.id",
                params,
            )


def _insert(model: type[models.Model], instances: list[models.Model]) -> None:
    with_id = [i for i in instances if i.pk is not None]
    without_id = [i for i in instances if i.pk is None]
    for group, include_pk in ((with_id, True), (without_id, False)):
        if not group:
            continue
        fields = [f for f in model._meta.concrete_fields if include_pk or not f.primary_key]
        kinds = [(f, _kind_of(f)) for f in fields]
        db = connections[DEFAULT_DB_ALIAS]
        params = [value for i in group for value in _prepared_row(i, kinds, db)]
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        columns = ", ".join(_q(f.column) for f in fields)
        returning = "" if include_pk else " RETURNING id"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_q(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * len(group))}{returning}",
                params,
            )
            if not include_pk:
                for instance, (pk,) in zip(group, cursor.fetchall(), strict=True):
                    instance.pk = pk


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    found = model._meta.get_field(name)
    assert isinstance(found, models.Field)
    return found


def _q(name: str | None) -> str:
    return connection.ops.quote_name(str(name))
