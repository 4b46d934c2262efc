"""Model instances from raw rows, for routing's hand-written statements (no ORM query compiled per decision)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from routing.models import AgentProfile


def columns(model: Any, *, alias: str) -> str:
    """The model's concrete columns, in the order `from_row` expects, qualified with `alias`."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def column_names(model: Any) -> list[str]:
    """The model's concrete column names, in the order `from_row` expects."""
    return [field.column for field in model._meta.concrete_fields]


def width(model: Any) -> int:
    return len(model._meta.concrete_fields)


def from_row(model: Any, row: Sequence[Any]) -> Any:
    """A model instance from a raw row of its concrete columns, as the ORM would load it: `from_db` alone skips the
    fields' `from_db_value` (psycopg2 hands a jsonb list over as text)."""
    names, converters = _loading(model)
    values = list(row)
    if len(values) != len(names):
        raise ValueError(f"{model.__name__}: {len(values)} values for {len(names)} columns")
    for position, convert in converters:
        values[position] = convert(values[position], None, connection)
    return model.from_db(connection.alias, names, values)


@cache
def _loading(model: Any) -> tuple[list[str], list[tuple[int, Any]]]:
    # The attribute names and the fields that convert their value, found once per model rather than per row (a
    # decision builds a dozen instances; the hasattr per field per row was a visible share of its Python).
    fields = model._meta.concrete_fields
    converters = [(n, field.from_db_value) for n, field in enumerate(fields) if hasattr(field, "from_db_value")]
    return [field.attname for field in fields], converters


def agent_from_row(row: Sequence[Any]) -> AgentProfile:
    """An agent's profile with its user, from a row of the profile's columns followed by the user's."""
    User = get_user_model()
    split = width(AgentProfile)
    profile: AgentProfile = from_row(AgentProfile, row[:split])
    profile.user = from_row(User, row[split : split + width(User)])
    return profile
