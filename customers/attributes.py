"""The one verb that changes a customer's custom attributes, called by the desk (htmx) and the REST API alike.

Before this module the desk and the API each wrote attributes their own way and had drifted: only the API refused a
customer merged into another (whose attributes nobody sees any more: an edit there would be silently lost). The rule
chosen for both is the API's: a merged-away customer is refused with the same error everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from customers.models import Customer
from customers.profile import clean_attributes

AttributeRows = Mapping[str, Any] | Iterable[tuple[str, Any]]


def refuse_merged_away(customer: Customer) -> None:
    """ValidationError (code "already_merged") when `customer` was merged into another: work goes to the survivor."""
    if customer.merged_into_id is not None:
        raise ValidationError(
            _("This customer was already merged into another one; work with the surviving customer."),
            code="already_merged",
        )


def update_customer_attributes(*, customer: Customer, by: Any, changes: AttributeRows) -> Customer:
    """Replace the customer's custom attributes with `changes` (a mapping, or key/value rows as edited on the desk).

    Keys are trimmed, rows with an empty key dropped, the last of a repeated key wins, values become strings
    (customers.profile.clean_attributes). Refusals are ValidationErrors and save nothing: "already_merged" (not about a
    field) for a merged-away customer, "too_large" keyed by `attributes` when the object would exceed 64 KB. The
    customer row is locked while it is checked and written, so a merge cannot slip in between. `customer` is updated
    in place and returned. `by` is the person making the change, kept for the audit trail to come.
    """
    rows = list(changes.items()) if isinstance(changes, Mapping) else list(changes)
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        # Merged-away first: the size of an edit that may not happen at all is beside the point.
        refuse_merged_away(locked)
        try:
            cleaned = clean_attributes(rows)
        except ValidationError as error:
            raise ValidationError({"attributes": error.error_list}) from error
        locked.attributes = cleaned
        locked.save(update_fields=["attributes", "updated_at"])
    customer.attributes = locked.attributes
    customer.updated_at = locked.updated_at
    return customer
