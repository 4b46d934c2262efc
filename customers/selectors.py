"""Reads of the customer 360° page and of customer search, always scoped to what the user may see."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, TypedDict

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from customers.models import Customer, Identity
from interactions import access
from interactions.models import Channel, Conversation, Interaction

SUMMARY_DAYS = 90
SEARCH_LIMIT = 20
# Identity kinds whose address is a phone number, matched on its trailing digits.
PHONE_KINDS = (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)
_PHONE_LOOKING = re.compile(r"[\d\s+().\-/]+")
_MIN_PHONE_DIGITS = 6


def customers_visible_to(user: Any) -> QuerySet[Customer]:
    """Supervisors see every customer; an agent, those with at least one conversation visible to them.

    Merged-away customers are not filtered out here yet: `Customer.merged_into` is being added separately, and the
    filter belongs here, once, when it lands.
    """
    if not user.is_authenticated:
        return Customer.objects.none()
    if access.is_supervisor(user):
        return Customer.objects.all()
    visible = access.conversations_visible_to(user)
    return Customer.objects.filter(pk__in=visible.values("customer_id"))


def get_customer_for_agent(user: Any, pk: int) -> Customer:
    """The customer if `user` may see them; 404 otherwise (never reveal that they exist)."""
    try:
        return customers_visible_to(user).get(pk=pk)
    except Customer.DoesNotExist:
        raise Http404("No such customer") from None


def open_cases(user: Any, customer: Customer) -> QuerySet[Conversation]:
    """The customer's unresolved conversations that `user` may see, most recently active first."""
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
    """Visible customers whose name or an identity address contains `query` (phones matched in any format)."""
    query = query.strip()
    if not query:
        return []
    matches = Q(display_name__icontains=query) | Q(identities__address__icontains=query)
    suffix = phone_suffix(query)
    if suffix:
        matches |= Q(identities__kind__in=PHONE_KINDS, identities__address__endswith=suffix)
    customers = customers_visible_to(user).filter(matches).distinct().order_by("display_name", "id")
    return list(customers[:limit])


def search_interactions(user: Any, query: str, *, limit: int = SEARCH_LIMIT) -> list[Interaction]:
    """Interactions of visible customers whose text matches `query`, newest first.

    PostgreSQL: full-text search with the "simple" configuration (no stemming, so it works for every language),
    computed at query time until an index exists. Elsewhere (the embedded SQLite mode): a plain `icontains`.
    """
    query = query.strip()
    if not query:
        return []
    interactions = Interaction.objects.filter(customer_id__in=customers_visible_to(user).values("pk"))
    if connection.vendor == "postgresql":
        interactions = interactions.annotate(document=SearchVector("text", config="simple")).filter(
            document=SearchQuery(query, config="simple", search_type="websearch")
        )
    else:
        interactions = interactions.filter(text__icontains=query)
    return list(interactions.select_related("customer", "channel").order_by("-id")[:limit])
