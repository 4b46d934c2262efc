"""The assignment's writes as one PostgreSQL statement: the history row, the item, the conversation and the agent's
load, plus the reads the rest of the decision needs (the conversation as it was, its customer and channel, the last
message's text for the announcement's preview, and the reporting event's context).

Two forms share the statement. `record` writes for an agent whose row the caller already locked. `lock_and_record`
is the push decision's candidate, lock and assignment in one round trip: the locking candidate query
(`engine._candidate_sql`, FOR UPDATE OF p SKIP LOCKED, its WHERE re-checked by PostgreSQL on the newest row version)
is the statement's first CTE (engine.lock_and_assign builds it), and the writes read the chosen agent from it; when
no agent qualifies, the writes touch no row and nothing comes back. The final SELECT sees the conversation as it was
before the statement (PostgreSQL's snapshot rule for data-modifying CTEs), which is what the separate read before
the writes returned; the agent's columns come from the locking CTE, i.e. from the locked row version. Column names
come from the models only. A leaf module (models, rows and reporting's SQL fragments), so engine can import it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection

from customers.models import Customer
from interactions.models import Channel, Conversation, Interaction
from omnidesk import prepared
from reporting import events as reporting_events  # rep: the answered event's context, read in the same statement
from routing import rows
from routing.models import AgentProfile, Assignment, CapacityClass, RoutingItem


class Recorded(NamedTuple):
    conversation: Conversation  # as it was just before, with its customer and channel
    last_text: str
    context: reporting_events.EventContext | None


def record(*, item: RoutingItem, profile: AgentProfile, source: str, now: datetime) -> Recorded:
    """Assign `item` to the agent whose row the caller locked (engine.record_assignment). PostgreSQL only."""
    load = _load_column(item.capacity_class)
    chosen = (
        f"SELECT CAST(%(profile)s AS bigint) AS p_id, CAST(%(agent)s AS integer) AS p_user_id,"
        f" CAST(%(load)s AS integer) AS p_{load}"
    )
    params = _params(item=item, source=source, now=now)
    params.update(profile=profile.pk, agent=profile.user_id, load=profile.load(item.capacity_class))
    with connection.cursor() as cursor:
        prepared.execute(cursor, _statement(chosen, load, agent_columns=False), params, owner="routing")
        row = cursor.fetchone()
    return recorded_from(row)


def lock_and_record(
    *,
    item: RoutingItem,
    chosen: str,
    skill_ids: Collection[int],
    exclude_user_ids: Collection[int],
    source: str,
    now: datetime,
) -> tuple[AgentProfile, Recorded] | None:
    """Lock the agent the locking query `chosen` (engine._candidate_sql with `agent_columns()`) picks and give them
    `item`, in one statement; None (and nothing written) when it picks nobody. PostgreSQL only."""
    load = _load_column(item.capacity_class)
    params = _params(item=item, source=source, now=now)
    params.update(skills=list(skill_ids), nskills=len(skill_ids), exclude=list(exclude_user_ids))
    with connection.cursor() as cursor:
        prepared.execute(cursor, _statement(chosen, load, agent_columns=True), params, owner="routing")
        row = cursor.fetchone()
    if row is None:
        return None
    width = rows.width(AgentProfile) + rows.width(get_user_model())
    return rows.agent_from_row(row[:width]), recorded_from(row[width:])


def agent_columns() -> str:
    """The locking query's select list for `lock_and_record`: the profile's and user's columns, named apart."""
    return ", ".join(
        [f"p.{c} AS p_{c}" for c in rows.column_names(AgentProfile)]
        + [f"u.{c} AS u_{c}" for c in rows.column_names(get_user_model())]
    )


def _load_column(capacity_class: str) -> str:
    return f"{CapacityClass(capacity_class).value}_load"


def _params(*, item: RoutingItem, source: str, now: datetime) -> dict[str, Any]:
    return {
        "conversation": item.conversation_id,
        "queue": item.queue_id,
        "class": item.capacity_class,
        "source": source,
        "now": now,
        "state": RoutingItem.State.ASSIGNED.value,
        "item": item.pk,
    }


@lru_cache(maxsize=32)
def _statement(chosen: str, load: str, *, agent_columns: bool) -> str:
    customers, channels = Customer._meta.db_table, Channel._meta.db_table
    agent = ""
    if agent_columns:
        names = [f"p_{c}" for c in rows.column_names(AgentProfile)] + [
            f"u_{c}" for c in rows.column_names(get_user_model())
        ]
        agent = ", ".join(f"chosen.{name}" for name in names) + ", "
    return (
        f"WITH chosen AS MATERIALIZED ({chosen}),"
        f" a AS (INSERT INTO {Assignment._meta.db_table}"
        " (conversation_id, agent_id, queue_id, capacity_class, source, started_at, end_reason)"
        " SELECT %(conversation)s, chosen.p_user_id, %(queue)s, %(class)s, %(source)s, %(now)s, '' FROM chosen),"
        f" i AS (UPDATE {RoutingItem._meta.db_table} SET state = %(state)s, agent_id = chosen.p_user_id, reason = '',"
        " updated_at = %(now)s FROM chosen WHERE id = %(item)s),"
        f" c AS (UPDATE {Conversation._meta.db_table} SET assignee_id = chosen.p_user_id, assigned_at = %(now)s"
        " FROM chosen WHERE id = %(conversation)s),"
        f" p AS (UPDATE {AgentProfile._meta.db_table} SET {load} = chosen.p_{load} + 1, last_assigned_at = %(now)s"
        " FROM chosen WHERE id = chosen.p_id)"
        f" SELECT {agent}{rows.columns(Conversation, alias='v')}, {rows.columns(Customer, alias='cu')},"
        f" {rows.columns(Channel, alias='ch')}, (SELECT t.text FROM {Interaction._meta.db_table} t"
        " WHERE t.conversation_id = v.id ORDER BY t.created_at DESC, t.id DESC LIMIT 1),"
        f" {reporting_events.context_select(conversation='v.id')}"
        f" FROM chosen CROSS JOIN {Conversation._meta.db_table} v JOIN {customers} cu ON cu.id = v.customer_id"
        f" JOIN {channels} ch ON ch.id = v.channel_id{reporting_events.context_joins(queue='v.queue_id')}"
        " WHERE v.id = %(conversation)s"
    )


def recorded_from(row: Sequence[Any]) -> Recorded:
    first, second = rows.width(Conversation), rows.width(Conversation) + rows.width(Customer)
    third = second + rows.width(Channel)
    conversation: Conversation = rows.from_row(Conversation, row[:first])
    conversation.customer = rows.from_row(Customer, row[first:second])
    conversation.channel = rows.from_row(Channel, row[second:third])
    context = reporting_events.context_of(row[third + 1 : third + 1 + reporting_events.CONTEXT_WIDTH])
    return Recorded(conversation, row[third] or "", context)
