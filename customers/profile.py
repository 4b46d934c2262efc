"""Changes to a customer's profile made from the desk."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from customers.models import Customer

MAX_ATTRIBUTES_BYTES = 64 * 1024


def clean_attributes(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Key/value rows as edited to the stored object: keys trimmed, rows with an empty key dropped, last key wins.

    Raises ValidationError when the object would exceed MAX_ATTRIBUTES_BYTES once serialized as UTF-8 JSON.
    """
    attributes: dict[str, str] = {}
    for key, value in pairs:
        key = str(key).strip()
        if key:
            attributes[key] = str(value)
    size = len(json.dumps(attributes, ensure_ascii=False).encode())
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValidationError(
            _("Custom attributes are limited to %(limit)s KB in total; these take %(size)s KB.")
            % {"limit": MAX_ATTRIBUTES_BYTES // 1024, "size": (size + 1023) // 1024},
            code="too_large",
        )
    return attributes


def update_customer_attributes(*, customer: Customer, attributes: list[tuple[str, str]], by: Any) -> Customer:
    """Replace the customer's custom attributes with the edited key/value rows (see `clean_attributes`).

    `by` is the agent making the change, kept in the signature for the audit trail to come. Raises ValidationError
    and saves nothing when the rows are refused.
    """
    cleaned = clean_attributes(attributes)
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        locked.attributes = cleaned
        locked.save(update_fields=["attributes", "updated_at"])
    customer.attributes = locked.attributes
    customer.updated_at = locked.updated_at
    return customer
