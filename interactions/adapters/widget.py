from collections.abc import Mapping
from typing import Any

from interactions.adapters import InvalidPayload, NormalizedMessage


def parse(payload: Mapping[str, Any]) -> NormalizedMessage:
    try:
        visitor, uuid, text = payload["visitor"], payload["uuid"], payload["text"]
    except (KeyError, TypeError) as error:
        raise InvalidPayload(f"widget payload lacks {error}") from None
    if not all(isinstance(value, str) and value for value in (visitor, uuid, text)):
        raise InvalidPayload("widget payload fields must be non-empty strings")
    # Visitors are anonymous until they tell us who they are; a short stable name lets agents tell them apart.
    # Visitor ids are "<channel tag>.<random>": the random part tells visitors of one channel apart.
    short = visitor.rsplit(".", 1)[-1][:6]
    return NormalizedMessage(
        identity_kind="widget", address=visitor, external_id=uuid, text=text, display_name=f"Visitor {short}"
    )
