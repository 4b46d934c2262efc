"""Model instances from raw rows, for routing's hand-written statements (no ORM query compiled per decision)."""

from __future__ import annotations

from collections.abc import Sequence
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
    fields = model._meta.concrete_fields
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, row, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], values)


def agent_from_row(row: Sequence[Any]) -> AgentProfile:
    """An agent's profile with its user, from a row of the profile's columns followed by the user's."""
    User = get_user_model()
    split = width(AgentProfile)
    profile: AgentProfile = from_row(AgentProfile, row[:split])
    profile.user = from_row(User, row[split : split + width(User)])
    return profile
