"""Adapters turn a provider's raw inbound payload into normalized messages; one module per provider."""

from dataclasses import dataclass


class InvalidPayload(ValueError):
    """The stored payload can never be processed; retrying will not help."""


@dataclass(frozen=True)
class NormalizedMessage:
    identity_kind: str
    address: str
    external_id: str
    text: str
    display_name: str = ""
