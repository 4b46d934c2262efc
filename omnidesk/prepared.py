"""Server-side prepared statements for hot, hand-written statements (PostgreSQL): routing's, the realtime events'
and the reporting events' writes.

psycopg2 sends every statement as text, so PostgreSQL parses and plans the decision's two statements (the locking
batch, and the candidate, lock and assignment) on every decision: measured on the routing benchmark's data, planning
was about half of the batch statement's server CPU (2.5–3.4 ms plain, 1.1–1.6 ms prepared). A statement prepared
once per connection is planned once (PostgreSQL keeps a generic plan after five executions when it costs no more
than the custom ones).

The first use on a connection sends `PREPARE …; EXECUTE …` in one round trip, so the statements sent per decision
do not change. Prepared statements belong to the session, not to a transaction: a rollback keeps them. After an
error we no longer know whether the PREPARE of that round trip took effect, so the next use asks the server.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from django.db import connection

# Per raw DB-API connection: the names prepared on it (a reconnect is a new object, with nothing prepared).
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_unsure: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

# Prepared name → the statement's text, for profiles that report statements by kind (bench/routing_profile.py).
statements: dict[str, str] = {}

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")


class Converted(NamedTuple):
    name: str
    body: str  # the statement with $1…$n
    order: tuple[str | int, ...]  # per $k, the parameter's name (named style) or position


@lru_cache(maxsize=256)
def _convert(sql: str, owner: str) -> Converted:
    order: list[str | int] = []
    position = 0

    def number(match: re.Match[str]) -> str:
        nonlocal position
        if match.group(0) == "%%":
            return "%%"  # still interpolated by the driver, with the EXECUTE's arguments
        key: str | int
        if match.group(1) is not None:
            key = match.group(1)
            if key in order:
                return f"${order.index(key) + 1}"
        else:
            key = position
            position += 1
        order.append(key)
        return f"${len(order)}"

    body = _PLACEHOLDER.sub(number, sql)
    # Named after its owner, so that a profile or a test tells whose statement an EXECUTE runs.
    name = f"{owner}_" + hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()
    statements[name] = sql
    return Converted(name, body, tuple(order))


def execute(cursor: Any, sql: str, params: Sequence[Any] | Mapping[str, Any], *, owner: str) -> None:
    """`cursor.execute(sql, params)` through a statement prepared once per connection (PostgreSQL only).

    `sql` uses one placeholder style, `%s` or `%(name)s`, as cursor.execute takes it; column and table names must
    be in the text (they are, in routing's statements), only values in `params`.
    """
    raw = connection.connection
    converted = _convert(sql, owner)
    values = [params[key] for key in converted.order]  # type: ignore[index]
    arguments = f"EXECUTE {converted.name}"
    if values:
        arguments += f"({', '.join(['%s'] * len(values))})"
    done = _prepared.setdefault(raw, set())
    if converted.name in _unsure.get(raw, ()):
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_prepared_statements WHERE name = %s)", [converted.name])
        if cursor.fetchone()[0]:
            done.add(converted.name)
        _unsure[raw].discard(converted.name)
    if converted.name in done:
        cursor.execute(arguments, values)
        return
    try:
        cursor.execute(f"PREPARE {converted.name} AS {converted.body}; {arguments}", values)
    except Exception:
        _unsure.setdefault(raw, set()).add(converted.name)
        raise
    done.add(converted.name)
