"""The rule for a customer's custom attributes; the verb that changes them is customers.attributes."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

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
