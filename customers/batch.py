"""Identity resolution for a whole ingest batch: a constant number of statements instead of ~4 per message.

The worker's batch (interactions/inbound.py) names its senders up front; `lock_customers_by_identities` resolves them
all with one SELECT of the identities, one INSERT of the new customers and one INSERT … ON CONFLICT DO NOTHING of
their identities (a concurrent worker's identity wins; the customer made for it here is deleted again), and locks
every customer in id order with one SELECT … FOR UPDATE — the same lock order for every worker, so two batches that
share customers wait for each other instead of deadlocking. The result is what `lock_customer_by_identity` would
have returned for each sender, message by message (same rules, same merges followed, same first display name).

Left to the per-message path (not resolved here): addresses that do not normalize, values too long for their
column (the message fails alone there, as before), and a phone or WhatsApp number new in its kind while the same
number is known in the other kind (the messaging channels link it to that customer: interactions/messaging).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.models import Customer, Identity
from customers.services import PHONE_KINDS, normalize_address
from omnidesk import compiled_queries

Key = tuple[str, str]  # (kind, normalized address)
NAME_MAX = Customer._meta.get_field("display_name").max_length or 200
ADDRESS_MAX = Identity._meta.get_field("address").max_length or 320


def batch_keys(senders: Iterable[tuple[str, str, str]]) -> dict[Key, str]:
    """(kind, address, display name) per message → the normalized keys to resolve, each with the display name of
    its first message (the one that would create the customer). Senders that cannot be resolved here are left out."""
    wanted: dict[Key, str] = {}
    for kind, address, display_name in senders:
        try:
            key = (kind, normalize_address(kind, address))
        except ValidationError:
            continue
        if len(key[1]) > ADDRESS_MAX or len(display_name) > NAME_MAX:
            continue
        wanted.setdefault(key, display_name)
    return wanted


def lock_customers_by_identities(*, wanted: dict[Key, str]) -> tuple[dict[Key, Customer], set[int]]:
    """The customers behind `wanted` (see `batch_keys`), created when new, row-locked until the transaction ends.

    Returns them by key, and the ids of the customers created here (see `drop_unused`). Runs in the caller's
    transaction; a failure leaves it to the caller to fall back to the per-message path.
    """
    if not wanted:
        return {}, set()
    kinds = {kind for kind, _address in wanted}
    if kinds & PHONE_KINDS:
        kinds |= PHONE_KINDS  # to see a number known in the other kind
    rows = _identities(kinds=kinds, addresses={address for _kind, address in wanted})
    known: dict[Key, int] = {}
    numbers: set[str] = set()
    for kind, address, customer_id in rows:
        known[(kind, address)] = customer_id
        if kind in PHONE_KINDS:
            numbers.add(address)
    found = {key: known[key] for key in wanted if key in known}
    new = [key for key in wanted if key not in known and not (key[0] in PHONE_KINDS and key[1] in numbers)]
    created: set[int] = set()
    if new:
        found_new, created = _create(new=new, wanted=wanted)
        found.update(found_new)
    customers = _lock(set(found.values()))
    return {key: customers[customer_id] for key, customer_id in found.items() if customer_id in customers}, created


def _create(*, new: list[Key], wanted: dict[Key, str]) -> tuple[dict[Key, int], set[int]]:
    """One customer per new key, then their identities; a key another worker created meanwhile keeps its own."""
    made = Customer.objects.bulk_create([Customer(display_name=wanted[key]) for key in new])
    now = timezone.now()
    table = Identity._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(new))
    params: list[Any] = []
    for key, customer in zip(new, made, strict=True):
        params += [customer.pk, key[0], key[1], False, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (customer_id, kind, address, verified, created_at) VALUES {values}"
            " ON CONFLICT (kind, address) DO NOTHING RETURNING kind, address, customer_id",
            params,
        )
        inserted = {(kind, address): customer_id for kind, address, customer_id in cursor.fetchall()}
    lost = [key for key in new if key not in inserted]
    if lost:
        # Another worker committed these identities since our SELECT: theirs win, our customers for them go.
        orphans = [customer.pk for key, customer in zip(new, made, strict=True) if key not in inserted]
        Customer.objects.filter(pk__in=orphans).delete()
        for kind, address, customer_id in Identity.objects.filter(
            kind__in={kind for kind, _a in lost}, address__in={address for _k, address in lost}
        ).values_list("kind", "address", "customer_id"):
            if (kind, address) in lost:
                inserted[(kind, address)] = customer_id
    return inserted, set(inserted.values()) & {customer.pk for customer in made}


def _identities(*, kinds: set[str], addresses: set[str]) -> list[tuple[str, str, int]]:
    """`Identity.objects.filter(kind__in=kinds, address__in=addresses).values_list("kind", "address", "customer_id")`
    as one SQL text with array parameters: the ORM compiled it, a parameter per address, for every batch."""
    if connection.vendor != "postgresql":
        return list(
            Identity.objects.filter(kind__in=kinds, address__in=addresses).values_list("kind", "address", "customer_id")
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, address, customer_id FROM {connection.ops.quote_name(Identity._meta.db_table)}"
            " WHERE kind = ANY(%s::varchar[]) AND address = ANY(%s::varchar[])",
            [sorted(kinds), sorted(addresses)],
        )
        return [(kind, address, customer_id) for kind, address, customer_id in cursor.fetchall()]


def customers_to_lock(*, customer_ids: list[int]) -> QuerySet[Customer]:
    """The batch's customers, locked in id order (compiled once per number of customers: `_lock`)."""
    return Customer.objects.select_for_update().filter(pk__in=customer_ids).order_by("pk")


def _lock(customer_ids: set[int]) -> dict[int, Customer]:
    """Lock the customers in id order and follow merges to the survivors (locked too): id → the customer to use."""
    locked = {
        customer.pk: customer
        for customer in compiled_queries.fetch(customers_to_lock, customer_ids=sorted(customer_ids))
    }
    result = dict(locked)
    for customer_id, customer in locked.items():
        survivor = customer
        while survivor.merged_into_id is not None:
            survivor = Customer.objects.select_for_update().get(pk=survivor.merged_into_id)
        result[customer_id] = survivor
    return result


def drop_unused(*, created: set[int]) -> None:
    """Delete the customers this batch created whose messages all failed or were deferred: rolled back to their
    savepoints, the per-message path would have left no customer either."""
    if created:
        with transaction.atomic():
            Customer.objects.filter(pk__in=created, interactions__isnull=True).delete()
