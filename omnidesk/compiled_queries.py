"""Hot queries compiled once: the queryset still defines each query, its SQL is built the first time only.

A continuing chat message in a batch of one spent about a third of its CPU compiling querysets (`SQLCompiler.as_sql`
for continuity's candidate cases with their intent subqueries, the routing item, the event; docs/performance-chat.md),
where PostgreSQL spent a fraction of that running them. `fetch(build, **arguments)` calls `build` once per shape of
its arguments with stand-in values, compiles it, and remembers the SQL text, where each argument goes among its
parameters and the compiler's description of the rows (which columns make which model, related model and
annotation). Later calls send that SQL with the real values and build the instances as the queryset's iteration
would (`Model.from_db`, the related populators of `select_related`, the annotations, the fields' converters).

`build` must take keyword-only arguments and return a queryset whose SQL depends on their shape (an id, a datetime,
a list's length), not on their values: the stand-ins find their places among the compiled parameters, and a
queryset where one does not appear at all (a value folded into the SQL, or decided on while compiling) is not
cached, so it simply runs through the ORM every time. tests/test_compiled_queries.py checks that each cached query
answers as its queryset does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connection, connections, models
from django.db.models.query import QuerySet, get_related_populators
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=models.Model)
R = TypeVar("R")  # what the queryset yields: an instance, or a values_list row

# Stand-in values: never a real id, a real moment or a real address. The ids fit a 32-bit column (a user's id):
# Django compiles an out-of-range value compared with an IntegerField to an empty result (EmptyResultSet).
_BASE_ID = -2_000_000_000
_BASE_MOMENT = datetime(1901, 2, 3, tzinfo=UTC)


@dataclass(frozen=True)
class Slot:
    name: str
    index: int | None = None  # the position within a list argument


@dataclass
class Compiled:
    sql: str
    params: list[Any | Slot]  # constants as compiled, and where each argument goes
    compiler: SQLCompiler
    rows: str  # "model", "tuples" (values_list) or "flat" (values_list(flat=True))
    model: type[models.Model] | None
    init_list: list[str]
    model_span: tuple[int, int]
    populators: list[Any]
    annotations: list[tuple[str, int]]
    converters: dict[int, Any]
    locks: bool
    db: str


_CACHE: dict[tuple[Any, ...], Compiled | None] = {}
ROWS: dict[type[Any], str] = {
    models.query.ModelIterable: "model",
    models.query.ValuesListIterable: "tuples",
    models.query.FlatValuesListIterable: "flat",
}
# A list argument longer than this is not cached (one SQL text per length): compiling is then shared by many rows.
MAX_LIST = 32


def _stand_in(name: str, value: Any, counter: Iterable[int]) -> tuple[Any, dict[Any, Slot]]:
    """A value of `value`'s shape, whose parts are recognisable among compiled parameters."""
    numbers = iter(counter)
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{name}: only ids, strings, moments and lists of ids are cached")
    if isinstance(value, int):
        stand_in = _BASE_ID - next(numbers)
        return stand_in, {stand_in: Slot(name)}
    if isinstance(value, datetime):
        stand_in_moment = _BASE_MOMENT + timedelta(seconds=next(numbers))
        return stand_in_moment, {stand_in_moment: Slot(name)}
    if isinstance(value, str):
        stand_in_text = f"\x1fstand-in {next(numbers)}\x1f"
        return stand_in_text, {stand_in_text: Slot(name)}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_BASE_ID - next(numbers) for _ in value]
        return items, {item: Slot(name, index) for index, item in enumerate(items)}
    raise TypeError(f"{name}: only ids, strings, moments and lists of ids are cached")


def _shape(value: Any) -> Any:
    if isinstance(value, list | tuple | set | frozenset):
        return ("list", len(value))
    return type(value)


def _compile(build: Callable[..., QuerySet[M]], arguments: dict[str, Any]) -> Compiled | None:
    counter = itertools.count(1)
    stand_ins: dict[str, Any] = {}
    slots: dict[Any, Slot] = {}
    for name, value in arguments.items():
        stand_ins[name], found = _stand_in(name, value, counter)
        slots.update(found)
    queryset = build(**stand_ins)
    query = queryset.query
    internals: Any = queryset  # what the queryset's iteration reads, not in the typed API
    rows = ROWS.get(internals._iterable_class)
    if internals._prefetch_related_lookups or rows is None:
        return None  # only model instances (with select_related and annotations) and values_list rows are built here
    compiler = query.get_compiler(using=queryset.db)
    sql, compiled_params = compiler.as_sql()
    params: list[Any | Slot] = []
    seen: set[Any] = set()
    for param in compiled_params:
        slot = slots.get(param) if isinstance(param, int | datetime | str) and not isinstance(param, bool) else None
        if slot is None:
            params.append(param)
            continue
        # An argument may appear more than once (an agent's id in two access filters): each stand-in is a value no
        # constant of the query has, so every place it holds is that argument's.
        seen.add(param)
        params.append(slot)
    if seen != set(slots):
        return None  # an argument folded into the SQL text (or dropped): its value matters, not only its shape
    select = compiler.select
    fields = [column for column, _sql, _alias in select[: compiler.col_count]]
    converters = compiler.get_converters(fields)
    if rows != "model":
        return Compiled(
            sql, params, compiler, rows, None, [], (0, 0), [], [], converters, query.select_for_update, queryset.db
        )
    klass_info = compiler.klass_info
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    return Compiled(
        sql=sql,
        params=params,
        compiler=compiler,
        rows=rows,
        model=klass_info["model"],
        init_list=[column.target.attname for column, _sql, _alias in select[start:end]],
        model_span=(start, end),
        # Django 5.2's signature; the stubs describe 6.0's, which adds a fetch mode.
        populators=get_related_populators(klass_info, select, queryset.db),  # type: ignore[call-arg]
        annotations=list((compiler.annotation_col_map or {}).items()),
        converters=converters,
        locks=query.select_for_update,
        db=queryset.db,
    )


def fetch(build: Callable[..., QuerySet[Any, R]], **arguments: Any) -> list[R]:
    """`list(build(**arguments))`, its SQL compiled once per shape of the arguments (see the module): model
    instances, or the rows of a `values_list` queryset."""
    shapes = tuple((name, _shape(value)) for name, value in arguments.items())
    if any(isinstance(shape, tuple) and shape[1] > MAX_LIST for _name, shape in shapes):
        return list(build(**arguments))
    key = (build, connection.vendor, shapes)
    if key not in _CACHE:
        if connection.get_autocommit():
            return list(build(**arguments))  # compiled within a transaction only: the ORM refuses a lock outside
        try:
            _CACHE[key] = _compile(build, arguments)
        except (TypeError, ValueError, EmptyResultSet, FullResultSet):
            # A stand-in the queryset refuses (a negative slice) or decides on while compiling (out of a small
            # integer column's range: nothing matches): its value matters.
            _CACHE[key] = None
    compiled = _CACHE[key]
    if compiled is None or (compiled.locks and connection.get_autocommit()):
        return list(build(**arguments))  # not cacheable; or a lock outside a transaction, which the ORM refuses
    values = {name: list(value) if isinstance(value, set | frozenset) else value for name, value in arguments.items()}
    params = [
        (values[p.name] if p.index is None else values[p.name][p.index]) if isinstance(p, Slot) else p
        for p in compiled.params
    ]
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, params)
        rows = cursor.fetchall()
    if compiled.rows == "tuples":
        return [tuple(row) for row in _converted(compiled, rows)]  # type: ignore[misc]
    if compiled.rows == "flat":
        return [row[0] for row in _converted(compiled, rows)]
    return [_instance(compiled, row) for row in _converted(compiled, rows)]


def _converted(compiled: Compiled, rows: list[Any]) -> Iterable[Any]:
    """`SQLCompiler.apply_converters`, with this thread's connection (the cached compiler holds the one of the thread
    that compiled it)."""
    if not compiled.converters:
        return rows
    return _apply(list(compiled.converters.items()), rows, connections[compiled.db])


def _apply(converters: list[tuple[int, Any]], rows: list[Any], current: Any) -> Iterable[list[Any]]:
    for row in map(list, rows):
        for position, (functions, expression) in converters:
            value = row[position]
            for converter in functions:
                value = converter(value, expression, current)
            row[position] = value
        yield row


def _instance(compiled: Compiled, row: Any) -> Any:
    assert compiled.model is not None
    start, end = compiled.model_span
    instance = compiled.model.from_db(compiled.db, compiled.init_list, row[start:end])
    for populator in compiled.populators:
        populator.populate(row, instance)
    for name, position in compiled.annotations:
        setattr(instance, name, row[position])
    return instance
