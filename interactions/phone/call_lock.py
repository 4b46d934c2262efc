"""The row lock a call event takes: one statement that reads the call, its relations and its users, or stores it.

See interactions/phone/services.py for what an event then does with the call.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import JSONField, QuerySet
from django.db.models.expressions import RawSQL

from interactions.models import Channel
from interactions.phone.models import Call
from interactions.phone.rows import insert_unless_exists
from omnidesk import compiled_queries

# What settling a call reads, in the one query that locks it (locked_calls): these relations joined, and the two users
# as scalar subqueries. PostgreSQL searches every order of the joins it is given (up to join_collapse_limit, 8): with
# the users joined too, the 8-table statement took 1.9 ms to plan with statistics and ~6 ms on young tables, for
# 0.15 ms to run; this way 0.6-0.9 ms (docs/performance-screenpop.md). Still one statement.
LOCK_RELATIONS = ("channel__queue", "customer", "interaction", "conversation")
CALL_USERS = ("target_agent", "agent")
CALL_RELATIONS = (*LOCK_RELATIONS, *CALL_USERS)  # all joined: the embedded SQLite default


def lock_call(*, channel: Channel, call_id: str, expect_new: bool = True, **defaults: Any) -> Call:
    """The Call for (channel, call id), created on the first event whatever its kind, row-locked.

    One statement in the usual case. A new call (`expect_new`: the `ringing` that pops a screen) is INSERTed first: the
    INSERT returns its id, the row stays locked by it until the transaction ends, and the object built here is what
    was stored (no relation set yet but the channel, which the caller has loaded). Later events read the existing call
    with its relations under a row lock first, and insert only when the provider's first event was not a ringing.
    """
    if not expect_new:
        # Compiled once (omnidesk/compiled_queries.py): compiling the lock with its joins and user subqueries cost
        # ~3 ms of client CPU per event, more than PostgreSQL spends planning and running it.
        found = compiled_queries.fetch(locked_call, channel_id=channel.pk, call_id=call_id)
        if found:
            return with_users(found[0])
    call = Call(channel=channel, call_id=call_id, **defaults)
    if insert_new_call(call):
        return call
    return with_users(locked_calls().get(channel=channel, call_id=call_id))


def locked_call(*, channel_id: int, call_id: str) -> QuerySet[Call]:
    """`lock_call`'s query for an existing call: the call of (channel, call id), as `locked_calls` reads it."""
    return locked_calls().filter(channel_id=channel_id, call_id=call_id).order_by("pk")[:1]


def locked_calls() -> QuerySet[Call]:
    """Calls for settling, row-locked, with their relations; pass each through `with_users`."""
    locked = Call.objects.select_for_update(of=("self",))
    if connection.vendor != "postgresql":
        # The embedded SQLite default: no join-planning cost to save, and its JSON dates have no time zone.
        return locked.select_related(*CALL_RELATIONS)
    return locked.select_related(*LOCK_RELATIONS).annotate(**_user_rows())


@lru_cache(maxsize=1)
def _user_rows() -> dict[str, RawSQL]:
    """Per user of CALL_USERS, its row as a JSON object (`<relation>_row`), in a scalar subquery: planned on its own,
    not as one more table among the joins. Written out: a Subquery of JSONObject cost more to compile (~1.9 ms of
    client CPU per lock) than the planning it saved."""
    User = get_user_model()
    quote = connection.ops.quote_name
    users, calls, pk = quote(User._meta.db_table), quote(Call._meta.db_table), quote(str(User._meta.pk.column))
    rows = {}
    for relation in CALL_USERS:
        key = Call._meta.get_field(relation)
        assert isinstance(key, models.ForeignKey)
        rows[f"{relation}_row"] = RawSQL(
            f"SELECT to_jsonb(u) FROM {users} u WHERE u.{pk} = {calls}.{quote(key.column)}",
            (),
            output_field=JSONField(),
        )
    return rows


def with_users(call: Call) -> Call:
    """`call` with its users built from their JSON rows (PostgreSQL dates carry their offset), as select_related would
    have loaded them."""
    User = get_user_model()
    fields = User._meta.concrete_fields
    for relation in CALL_USERS:
        if f"{relation}_row" not in call.__dict__:
            continue  # loaded by select_related (locked_calls)
        row = call.__dict__.pop(f"{relation}_row")
        user = None
        if row is not None:
            values = [field.to_python(row[field.column]) for field in fields]
            user = User.from_db(connection.alias, [field.attname for field in fields], values)
        call._state.fields_cache[relation] = user
    return call


def insert_new_call(call: Call) -> bool:
    """Store `call` unless (channel, call id) exists: True, with `call.pk` set, when it was new. Django's
    bulk_create(ignore_conflicts=True) returns no id, which cost a second, 8-table locking SELECT per call."""
    if not connection.features.can_return_columns_from_insert:
        Call.objects.bulk_create([call], ignore_conflicts=True)
        return False  # the caller reads it back
    return insert_unless_exists(call, conflict=("channel_id", "call_id"))
