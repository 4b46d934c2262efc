"""Reads of the customer 360° page and of customer search, always scoped to what the user may see."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import Any, TypedDict

from django.db import connection
from django.db.models import BooleanField, Count, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone

from customers.models import Customer, Identity, MergeRecord
from interactions import access
from interactions.models import Channel, Conversation, Interaction

SUMMARY_DAYS = 90
SEARCH_LIMIT = 20
# Identity kinds whose address is a phone number, matched on its trailing digits.
PHONE_KINDS = (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)
_PHONE_LOOKING = re.compile(r"[\d\s+().\-/]+")
_MIN_PHONE_DIGITS = 6


def customers_visible_to(user: Any) -> QuerySet[Customer]:
    """Every customer for every active agent (no silos: anyone serving a customer may look them up); nobody for the
    anonymous and the deactivated. What of their history each agent sees is interactions/access.py's business.

    Merged-away customers are not filtered out here yet: `Customer.merged_into` is being added separately, and the
    filter belongs here, once, when it lands.
    """
    if not access.is_active_agent(user):
        return Customer.objects.none()
    return Customer.objects.all()


def get_customer_for_agent(user: Any, pk: Any) -> Customer:
    """The customer if `user` may see them; 404 otherwise (never reveal that they exist)."""
    try:
        return customers_visible_to(user).get(pk=pk)
    except (Customer.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such customer") from None


def get_active_merge_for_agent(user: Any, pk: int) -> MergeRecord | None:
    """The latest merge of customer `pk` into another that was not undone yet, or None.

    A merged-away customer has nothing left that makes them visible to an agent, so seeing the surviving customer
    is enough; 404 when the user sees neither (never reveal that they exist).
    """
    record = (
        MergeRecord.objects.filter(source_id=pk, unmerged_at__isnull=True)
        .select_related("source", "target")
        .order_by("-merged_at", "-id")
        .first()
    )
    candidates = [pk] if record is None else [pk, record.target_id]
    if not customers_visible_to(user).filter(pk__in=candidates).exists():
        raise Http404("No such customer")
    return record


def open_cases(user: Any, customer: Customer) -> QuerySet[Conversation]:
    """The customer's unresolved conversations that `user` may open, most recently active first."""
    return (
        access.conversations_visible_to(user)
        .filter(customer=customer)
        .exclude(status=Conversation.Status.RESOLVED)
        .select_related("channel", "assignee", "queue")
        .order_by("-last_message_at", "-id")
    )


def identities_of(customer: Customer) -> QuerySet[Identity]:
    return customer.identities.order_by("kind", "address")


class ChannelContacts(TypedDict):
    kind: str
    label: str
    count: int


def contacts_per_channel(customer: Customer, *, days: int = SUMMARY_DAYS) -> list[ChannelContacts]:
    """Inbound interactions of the last `days` days per channel kind, busiest first (one aggregate query)."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        Interaction.objects.filter(customer=customer, direction=Interaction.Direction.INBOUND, created_at__gte=since)
        .values("channel__kind")
        .annotate(count=Count("id"))
        .order_by("-count", "channel__kind")
    )
    labels = dict(Channel.Kind.choices)
    return [
        {
            "kind": row["channel__kind"],
            "label": str(labels.get(row["channel__kind"], row["channel__kind"])),
            "count": row["count"],
        }
        for row in rows
    ]


def phone_suffix(query: str) -> str | None:
    """The trailing digits a phone-looking query must match, or None if the query does not look like a phone number.

    "06 12 34 56 78" (a French national number) becomes its national significant number "612345678", which ends the
    stored E.164 address "+33612345678"; "+33 6 12 34 56 78" and "0033612345678" become "33612345678".
    """
    if not _PHONE_LOOKING.fullmatch(query):
        return None
    digits = re.sub(r"\D", "", query)
    if len(digits) == 10 and digits.startswith("0") and not digits.startswith("00"):
        return digits[1:]
    if digits.startswith("00"):
        digits = digits[2:]
    return digits if len(digits) >= _MIN_PHONE_DIGITS else None


def search_customers(user: Any, query: str, *, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Visible customers whose name or an identity address contains `query` (phones matched in any format).

    On PostgreSQL `icontains`/`iendswith` compile to `UPPER(col::text) LIKE UPPER(%s)`, which the trigram indexes of
    migration customers/0004 (on exactly those expressions) serve. The name and the identity matches are combined
    with a UNION of customer ids rather than an OR across a join, so each side can use its own index.
    """
    query = query.strip()
    if not query:
        return []
    by_address = Q(address__icontains=query)
    suffix = phone_suffix(query)
    if suffix:
        # iendswith, not endswith: the same UPPER(address::text) expression as the index (digits have no case).
        by_address |= Q(kind__in=PHONE_KINDS, address__iendswith=suffix)
    matching_ids = (
        Customer.objects.filter(display_name__icontains=query)
        .values("pk")
        .union(Identity.objects.filter(by_address).values("customer_id"))
    )
    customers = customers_visible_to(user).filter(pk__in=matching_ids).order_by("display_name", "id")
    return list(customers[:limit])


def _text_matches(query: str, *, use_index: bool) -> RawSQL:
    """`text` matches the websearch-syntax `query` ("simple" configuration: no stemming, fits every language).

    With `use_index`, the expression is exactly the one of the GIN index interaction_text_fts; without, it is made
    unindexable (`text || ''`, same value) so that PostgreSQL cannot pick the GIN index and sort every match.
    """
    column = '"interactions_interaction"."text"' + ("" if use_index else " || ''")
    return RawSQL(
        f"to_tsvector('simple'::regconfig, {column}) @@ websearch_to_tsquery('simple'::regconfig, %s)",
        (query,),
        output_field=BooleanField(),
    )


def _estimated_matches(query: str) -> tuple[float, float, float]:
    """The planner's estimate of the interactions matching `query` (from the statistics ANALYZE keeps on the indexed
    tsvector expression: frequent words are known precisely, rare ones get a small default); the estimated number of
    interactions and of customers."""
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (FORMAT JSON) SELECT 1 FROM interactions_interaction"
            " WHERE to_tsvector('simple'::regconfig, text) @@ websearch_to_tsquery('simple'::regconfig, %s)",
            [query],
        )
        row = cursor.fetchone()
        plan = (json.loads(row[0]) if isinstance(row[0], str) else row[0]) if row else [{}]
        matches = float(plan[0].get("Plan", {}).get("Plan Rows", 0))
        cursor.execute(
            "SELECT (SELECT reltuples FROM pg_class WHERE oid = 'interactions_interaction'::regclass),"
            " (SELECT reltuples FROM pg_class WHERE oid = 'customers_customer'::regclass)"
        )
        sizes = cursor.fetchone() or (1.0, 1.0)
    # reltuples is -1 for a table never vacuumed nor analyzed (a fresh database): count at least one row.
    return matches, max(float(sizes[0]), 1.0), max(float(sizes[1]), 1.0)


# Agents' text search gathers this many times the page, as some hits may be text they may not read.
SEARCH_MARGIN = 3
# Testing one row's text costs about WALK_COST_RATIO times more than fetching and sorting one GIN match.
WALK_COST_RATIO = 4


def search_interactions(user: Any, query: str, *, limit: int = SEARCH_LIMIT) -> list[Interaction]:
    """Interactions of visible customers whose text matches `query`, newest first.

    PostgreSQL: full-text search planned so that it stays fast whatever the term's frequency. Sorting every match of
    a common word by recency is slow (hundreds of thousands of rows), and so is testing rows newest first until
    enough match for a rare one; PostgreSQL's own choice between the two flips with its estimates, so we choose:
    with M estimated matches among N interactions and a share v of the customers visible, testing rows newest first
    costs about limit·N/(M·v) rows and the GIN index M rows.
    - Rare: every match through the GIN index (ordered by `id + 0`, which no index provides, so the planner cannot
      switch to walking the primary key), then a sort.
    - Common: windows of ids, newest first, each row tested (the unindexable `text || ''` keeps the planner on the
      primary key range), until `limit` visible matches; if two windows (≈10x the expected walk) were not enough,
      the estimate was wrong (e.g. a word frequent only long ago) and the GIN index finishes the search below them.
    Visibility (agents) is the set of visible customer ids, read once and applied in Python: as a semi-join in the
    search query, it made PostgreSQL walk every visible customer's interactions. Then one query reads the results.
    Elsewhere (the embedded SQLite mode): a plain `icontains`.
    """
    query = query.strip()
    if not query or not access.is_active_agent(user):
        return []
    if connection.vendor != "postgresql":
        return plain_search_interactions(user, query, limit=limit)
    visible = visible_customer_ids(user)
    if visible is not None and not visible:
        return []
    matches, total, customers = _estimated_matches(query)
    share = 1.0 if visible is None else min(1.0, len(visible) / customers)
    walk_rows = limit * total / max(matches * share, 1.0)
    # Entries whose text the agent may not read (others' notes, confidential queues) are dropped after the id search:
    # gather a margin more so that they rarely leave the page short.
    wanted = limit if access.is_supervisor(user) else limit * SEARCH_MARGIN
    if walk_rows * WALK_COST_RATIO > matches:
        found = matches_through_index(query, visible=visible, limit=wanted)
    else:
        found = matches_newest_first(query, visible=visible, limit=wanted, expected_walk=walk_rows)
    return interactions_by_id(found, limit=limit, user=user)


def plain_search_interactions(user: Any, query: str, *, limit: int = SEARCH_LIMIT) -> list[Interaction]:
    """The embedded (SQLite) search: a plain `icontains`, newest first."""
    results = Interaction.objects.select_related("customer", "channel", "conversation__queue")
    results = access.searchable_interactions_for(user, results)
    return access.redact(user, results.filter(text__icontains=query).order_by("-id")[:limit])


def visible_customer_ids(user: Any) -> set[int] | None:
    """None when every customer is visible (every active agent: no silos), else the (empty) set `user` may see."""
    if access.is_active_agent(user):
        return None
    return set()


def _keep(rows: QuerySet[Interaction], visible: set[int] | None, found: list[int]) -> None:
    ids = rows.values_list("id", "customer_id")
    found.extend(pk for pk, customer_id in ids if visible is None or customer_id in visible)


def matches_through_index(
    query: str, *, visible: set[int] | None, limit: int, below: int | None = None, found: list[int] | None = None
) -> list[int]:
    """Ids of matching interactions read through the GIN index (the plan for rare terms)."""
    found = [] if found is None else found
    rows = Interaction.objects.filter(_text_matches(query, use_index=True))
    if below is not None:
        rows = rows.filter(id__lt=below)
    rows = rows.order_by((F("id") + 0).desc())
    _keep(rows[: limit - len(found)] if visible is None else rows, visible, found)
    return found


def matches_newest_first(query: str, *, visible: set[int] | None, limit: int, expected_walk: float) -> list[int]:
    """Ids of matching interactions found by testing windows of rows newest first (the plan for common terms)."""
    found: list[int] = []
    newest = Interaction.objects.order_by("-id").values_list("id", flat=True).first() or 0
    window, upper = max(1_000, math.ceil(2 * expected_walk)), newest + 1
    for _attempt in range(2):  # about 2x, then 10x the expected walk; past that the estimate was wrong
        lower = max(0, upper - window)
        in_window = Interaction.objects.filter(_text_matches(query, use_index=False), id__gte=lower, id__lt=upper)
        _keep(in_window.order_by("-id"), visible, found)
        upper, window = lower, window * 4
        if upper == 0 or len(found) >= limit:
            return found
    return matches_through_index(query, visible=visible, limit=limit, below=upper, found=found)


def interactions_by_id(ids: list[int], *, limit: int = SEARCH_LIMIT, user: Any = None) -> list[Interaction]:
    """The interactions `ids`, newest first; with `user`, only those whose text `user` may read (access rule)."""
    if user is None:
        newest = sorted(ids, reverse=True)[:limit]
        if not newest:
            return []
        return list(Interaction.objects.select_related("customer", "channel").filter(pk__in=newest).order_by("-id"))
    if not ids:
        return []
    results = Interaction.objects.select_related("customer", "channel", "conversation__queue").filter(pk__in=ids)
    results = access.searchable_interactions_for(user, results)
    return access.redact(user, results.order_by("-id")[:limit])
