"""Creating and editing customer and organization records, called by the REST API (and any other interface).

Every function writes in one transaction: on any error nothing is saved. Refusals are Django ValidationErrors keyed
by the field at fault, and IdentityTaken when an address already belongs to another customer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from customers.attributes import refuse_merged_away, update_customer_attributes
from customers.models import Customer, Identity, Organization
from customers.profile import clean_attributes
from customers.services import normalize_address

CUSTOMER_FIELDS = frozenset({"display_name", "language", "organization", "segment", "value_tier", "attributes"})
ORGANIZATION_FIELDS = frozenset({"name", "domain", "attributes"})


class IdentityTaken(Exception):
    """The (kind, address) already identifies another customer: adding it would silently merge two people."""

    def __init__(self, identity: Identity) -> None:
        super().__init__(f"{identity} belongs to customer #{identity.customer_id}")
        self.identity = identity
        self.customer_id = identity.customer_id


class NewIdentity(TypedDict):
    kind: str
    address: str


def _clean_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    """The desk's rule for custom attributes (string values, 64 KB at most), keyed by the field on refusal."""
    try:
        return clean_attributes(list(attributes.items()))
    except ValidationError as error:
        raise ValidationError({"attributes": error.error_list}) from error


def _add_identity(*, customer: Customer, kind: str, address: str) -> tuple[Identity, bool]:
    normalized = normalize_address(kind, address)
    existing = Identity.objects.filter(kind=kind, address=normalized).first()
    if existing is None:
        try:
            # A savepoint: losing the race for the unique (kind, address) must not break the caller's transaction.
            with transaction.atomic():
                return Identity.objects.create(customer=customer, kind=kind, address=normalized), True
        except IntegrityError:
            existing = Identity.objects.get(kind=kind, address=normalized)
    if existing.customer_id != customer.pk:
        raise IdentityTaken(existing)
    return existing, False


def create_customer(
    *,
    display_name: str = "",
    language: str = "",
    organization: Organization | None = None,
    segment: str = "",
    value_tier: str = Customer.ValueTier.STANDARD,
    attributes: dict[str, Any] | None = None,
    identities: Iterable[NewIdentity] = (),
    by: Any,
) -> Customer:
    """A new customer with the given identities (addresses normalized as in customers.services).

    Raises ValidationError for oversized attributes or an invalid address, and IdentityTaken when an address belongs
    to an existing customer; then nothing is created. `by` is kept for the audit trail to come.
    """
    cleaned = _clean_attributes(attributes or {})
    with transaction.atomic():
        customer = Customer.objects.create(
            display_name=display_name,
            language=language,
            organization=organization,
            segment=segment,
            value_tier=value_tier,
            attributes=cleaned,
        )
        for identity in identities:
            _add_identity(customer=customer, kind=identity["kind"], address=identity["address"])
    return customer


def update_customer(*, customer: Customer, by: Any, **changes: Any) -> Customer:
    """Change the given profile fields (see CUSTOMER_FIELDS) of a customer in normal use; `customer` is updated.

    Raises ValidationError for a merged-away customer or oversized attributes, and saves nothing then.
    """
    unknown = set(changes) - CUSTOMER_FIELDS
    if unknown:
        raise TypeError(f"update_customer() cannot change {sorted(unknown)}")
    # Attributes go through their one verb (customers.attributes), in this transaction: all or nothing.
    attributes = changes.pop("attributes", None)
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        refuse_merged_away(locked)
        for name, value in changes.items():
            setattr(locked, name, value)
        if changes:
            locked.save(update_fields=[*changes, "updated_at"])
        if attributes is not None:
            update_customer_attributes(customer=locked, by=by, changes=attributes)
    for field in Customer._meta.concrete_fields:
        setattr(customer, field.attname, getattr(locked, field.attname))
    return customer


def add_identity(*, customer: Customer, kind: str, address: str, by: Any) -> tuple[Identity, bool]:
    """The customer's identity for (kind, address) once normalized, and whether it was created now.

    Raises ValidationError for an invalid address or a merged-away customer, IdentityTaken when the address belongs
    to another customer.
    """
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        refuse_merged_away(locked)
        return _add_identity(customer=locked, kind=kind, address=address)


def _name_taken() -> ValidationError:
    # The input serializer checks uniqueness first; this is the race where another request took the name meanwhile.
    return ValidationError({"name": [Organization().unique_error_message(Organization, ("name",))]})


def create_organization(
    *, name: str, domain: str = "", attributes: dict[str, Any] | None = None, by: Any
) -> Organization:
    """A new organization. Raises ValidationError for oversized attributes."""
    cleaned = _clean_attributes(attributes or {})
    try:
        with transaction.atomic():
            return Organization.objects.create(name=name, domain=domain, attributes=cleaned)
    except IntegrityError as error:
        raise _name_taken() from error


def update_organization(*, organization: Organization, by: Any, **changes: Any) -> Organization:
    """Change the given fields (see ORGANIZATION_FIELDS); `organization` is updated in place."""
    unknown = set(changes) - ORGANIZATION_FIELDS
    if unknown:
        raise TypeError(f"update_organization() cannot change {sorted(unknown)}")
    if "attributes" in changes:
        changes["attributes"] = _clean_attributes(changes["attributes"])
    try:
        with transaction.atomic():
            locked = Organization.objects.select_for_update().get(pk=organization.pk)
            for name, value in changes.items():
                setattr(locked, name, value)
            if changes:
                locked.save(update_fields=[*changes, "updated_at"])
    except IntegrityError as error:
        raise _name_taken() from error
    for field in Organization._meta.concrete_fields:
        setattr(organization, field.attname, getattr(locked, field.attname))
    return organization
