"""Identity resolution: which Customer an address belongs to, with one set of rules for every channel.

Rules (an Identity is unique per (kind, normalized address)):
- email: Unicode NFKC, trimmed, lower-cased. Plus-addresses stay distinct (jean+shop@… is not jean@…): people use
  them on purpose, and folding them would merge strangers on providers where "+" is not a sub-address.
- phone and WhatsApp: E.164 via `phonenumbers`; national numbers are read in OMNIDESK_DEFAULT_REGION (FR by default),
  so "06 12 34 56 78", "+33612345678" and "0033 6 12 34 56 78" are one person. WhatsApp ids are phone numbers.
- Messenger, Instagram, Telegram, widget visitors and external ids: opaque, compared exactly after trimming.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from omnidesk import compiled_queries

PHONE_KINDS = {Identity.Kind.PHONE, Identity.Kind.WHATSAPP}


def normalize_email(value: str) -> str:
    email = _normalized_email(value) if len(value) <= MEMO_EMAIL_CHARS else _normalize_email(value)
    if email is None:
        message = _("“%(value)s” is not a valid email address.") % {"value": value}
        raise ValidationError(message, code="invalid_email")
    return email


# An ingested mail's sender is normalized three times (its read, the batch's senders, its lock) and the same senders
# write again and again; Django's validation is ~30 µs each. Addresses are at most 254 characters: longer values are
# invalid anyway, and are not kept.
MEMO_EMAIL_CHARS = 320


def _normalize_email(value: str) -> str | None:
    """The normalized address, or None when it is not a valid one (the caller raises, in the active language)."""
    email = unicodedata.normalize("NFKC", value).strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        return None
    return email


_normalized_email = lru_cache(maxsize=4096)(_normalize_email)


def normalize_phone(value: str, *, region: str | None = None) -> str:
    try:
        number = phonenumbers.parse(value, region or settings.OMNIDESK_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(_("“%(value)s” is not a valid phone number.") % {"value": value}, code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_address(kind: str, address: str) -> str:
    """The canonical form of `address` for an identity of `kind`; ValidationError when it cannot be one."""
    if kind == Identity.Kind.EMAIL:
        return normalize_email(address)
    if kind in PHONE_KINDS:
        return normalize_phone(address)
    if kind not in Identity.Kind.values:
        raise ValidationError(_("Unknown identity kind “%(kind)s”.") % {"kind": kind}, code="invalid_kind")
    cleaned = address.strip()
    if not cleaned:
        raise ValidationError(_("An identity needs an address."), code="empty_address")
    return cleaned


def find_identity(*, kind: str, address: str) -> Identity | None:
    normalized = normalize_address(kind, address)
    return Identity.objects.select_related("customer").filter(kind=kind, address=normalized).first()


# The customers an ingest batch has resolved and row-locked up front, by (kind, normalized address): see
# customers/batch.py. Within the batch, `lock_customer_by_identity` answers from here without a statement.
_locked_for_batch: ContextVar[dict[tuple[str, str], Customer] | None] = ContextVar("locked_for_batch", default=None)


@contextmanager
def customers_locked_for_batch(customers: dict[tuple[str, str], Customer]) -> Iterator[None]:
    """Within the block, the customers in `customers` (held locked by the caller's transaction) need no lookup."""
    token = _locked_for_batch.set(customers)
    try:
        yield
    finally:
        _locked_for_batch.reset(token)


def locked_in_batch(*, kind: str, address: str) -> Customer | None:
    """The customer the running batch has locked for (kind, normalized address), if it has."""
    customers = _locked_for_batch.get()
    return None if customers is None else customers.get((kind, address))


def lock_customer_by_identity(
    *, kind: str, address: str, display_name: str = "", normalized: bool = False, known_new: bool = False
) -> Customer:
    """The customer behind (kind, address), created the first time, row-locked until the transaction ends.

    Holding the lock makes one customer's inbound messages process one at a time, so that two first messages
    arriving together open one conversation, not two. `normalized`: `address` is in canonical form already.
    `known_new`: the caller has just looked for it and found none, so the lookups are not repeated (a new sender's
    first message is on the ingest path); a concurrent creation is still caught by the unique constraint.
    """
    normalized_address = address if normalized else normalize_address(kind, address)
    customer = locked_in_batch(kind=kind, address=normalized_address)
    if customer is not None:
        return customer  # resolved, locked and followed through merges by the batch's prelude
    if not known_new:
        # Compiled once (omnidesk/compiled_queries.py): on a message outside a batch this lookup was the last query
        # compiled per message, ~0.5 ms of its ~5 ms of worker CPU (docs/performance-chat.md).
        found = compiled_queries.fetch(customer_by_identity, kind=kind, address=normalized_address)
        customer = found[0] if found else None
    if customer is None:
        if known_new:
            identity = _create_identity(kind=kind, address=normalized_address, display_name=display_name)
        else:
            identity = resolve_identity(kind=kind, address=normalized_address, display_name=display_name)
        customer = Customer.objects.select_for_update().get(pk=identity.customer_id)
    # A merge that committed while this waited for the lock moved the identity away: follow it to the survivor.
    while customer.merged_into_id is not None:
        customer = Customer.objects.select_for_update().get(pk=customer.merged_into_id)
    return customer


def customer_by_identity(*, kind: str, address: str) -> QuerySet[Customer]:
    """The query of `lock_customer_by_identity`: the customer holding (kind, address) in canonical form, locked."""
    return (
        Customer.objects.select_for_update(of=("self",))
        .filter(identities__kind=kind, identities__address=address)
        .order_by("pk")[:1]
    )


def resolve_identity(*, kind: str, address: str, display_name: str = "", verified: bool = False) -> Identity:
    """The Identity for (kind, address) after normalization, creating it and a new Customer the first time.

    Safe under concurrency: two workers resolving the same new address end up with the same row.
    """
    normalized = normalize_address(kind, address)
    identity = Identity.objects.select_related("customer").filter(kind=kind, address=normalized).first()
    if identity is not None:
        return identity
    return _create_identity(kind=kind, address=normalized, display_name=display_name, verified=verified)


def _create_identity(*, kind: str, address: str, display_name: str = "", verified: bool = False) -> Identity:
    """A new Customer with this (normalized) identity; the existing identity if another worker created it first."""
    try:
        with transaction.atomic():
            customer = Customer.objects.create(display_name=display_name)
            return Identity.objects.create(customer=customer, kind=kind, address=address, verified=verified)
    except IntegrityError:
        return Identity.objects.select_related("customer").get(kind=kind, address=address)
