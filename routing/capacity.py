"""Capacity blending: what one more item of a class would cost an agent, in units, and whether it still fits.

Two limits apply together, both read from the agent's own row so that the locking candidate query stays exact
(PostgreSQL re-checks the WHERE on the newest row version before granting the lock; a subquery over other tables
would not be re-checked):

- per class, as before: at most `<class>_capacity` items of the class (e.g. 3 chats, 1 call, 5 emails);
- in units, like Salesforce Omni-Channel's capacity and work-item size: each item occupies its class's unit cost
  (`<class>_units`) out of the agent's `capacity_units`. With the defaults (15 units; a call 15, a chat 5, an email
  3) a call fills the agent, so an agent on a call receives no chat, and three chats or five emails fill them too.

The units in use are Σ `<class>_load × <class>_units` over the classes: the same per-class counters the routing
services already keep under the row lock, so no new counter can drift. An empty `capacity_units` turns blending off
(the per-class limits alone): the migration leaves existing profiles so, and new profiles blend.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Q

from routing.models import AgentProfile, CapacityClass

CLASSES: tuple[str, ...] = tuple(CapacityClass.values)


def classes_with_room(profile: AgentProfile) -> list[str]:
    """The classes in which one more item fits (AgentProfile.has_room, the Python twin of `room_sql`)."""
    return [c for c in ("chat", "voice", "email") if profile.has_room(c)]


def room_sql(capacity_class: str, *, alias: str = "p") -> str:
    """`has_room` as an SQL condition on the profile row `alias`. Column names come from CapacityClass only."""
    if capacity_class not in CLASSES:
        raise ValueError(capacity_class)
    used = " + ".join(f"{alias}.{c}_load * {alias}.{c}_units" for c in CLASSES)
    return (
        f"({alias}.{capacity_class}_load < {alias}.{capacity_class}_capacity AND ({alias}.capacity_units IS NULL"
        f" OR {used} + {alias}.{capacity_class}_units <= {alias}.capacity_units))"
    )


def room_q(capacity_class: str) -> Q:
    """`has_room` as an ORM filter on AgentProfile."""
    if capacity_class not in CLASSES:
        raise ValueError(capacity_class)
    used = F("voice_load") * F("voice_units") + F("chat_load") * F("chat_units") + F("email_load") * F("email_units")
    blended = Q(capacity_units__isnull=True) | Q(capacity_units__gte=used + F(f"{capacity_class}_units"))
    return Q(**{f"{capacity_class}_load__lt": F(f"{capacity_class}_capacity")}) & blended


def any_room_q(classes: Iterable[str] = CLASSES) -> Q:
    rooms = Q()
    for capacity_class in classes:
        rooms |= room_q(capacity_class)
    return rooms
