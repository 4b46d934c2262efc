"""Where one person's data lies: the rows reachable from the customer, and the raw copies found by their addresses.

Shared by the GDPR export (what to hand over) and erasure (what to blank), so that both always cover the same rows.
Rows reach the person through foreign keys (customer → conversations → interactions, calls, callbacks, transfers,
intent corrections, mail references, attachments), except the raw copies kept for replay and idempotency (inbound
events, realtime events, pending receipts, acknowledgements), which are found by provider ids and by the person's
addresses ("needles").
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

import phonenumbers
from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast

from customers.models import Customer, Identity
from interactions.models import Conversation, InboundEvent, Interaction
from interactions.phone.models import Call, Callback

# Addresses shorter than this (a Telegram user id "777"…) would match unrelated text: they are only used through
# foreign keys and exact provider ids, never searched for inside payloads.
MIN_NEEDLE_LENGTH = 6
PHONE_KINDS = (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)


def phone_forms(number: str) -> set[str]:
    """The ways a number appears in provider payloads and text: E.164, digits only, national and its digits."""
    forms = {number, number.lstrip("+")}
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return {form for form in forms if form}
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    forms |= {national, "".join(c for c in national if c.isdigit()), phonenumbers.national_significant_number(parsed)}
    return {form for form in forms if form}


@dataclass
class Footprint:
    """The person's rows, by id, collected before anything is changed."""

    customer_ids: list[int]
    identities: list[tuple[str, str]]
    conversation_ids: list[int]
    interaction_ids: list[int]
    call_ids: list[int]
    callback_ids: list[int]
    channel_ids: set[int]
    provider_call_ids: list[str]
    needles: set[str] = field(default_factory=set)

    @property
    def emails(self) -> set[str]:
        return {address for kind, address in self.identities if kind == Identity.Kind.EMAIL}

    @property
    def phones(self) -> set[str]:
        return {address for kind, address in self.identities if kind in PHONE_KINDS}

    @property
    def widget_ids(self) -> list[str]:
        return [address for kind, address in self.identities if kind == Identity.Kind.WIDGET]

    def conversations(self) -> QuerySet[Conversation]:
        return Conversation.objects.filter(pk__in=self.conversation_ids)

    def interactions(self) -> QuerySet[Interaction]:
        return Interaction.objects.filter(pk__in=self.interaction_ids)

    def interactions_with_provider_id(self) -> QuerySet[Interaction]:
        """For an Exists() filter on a model with channel_id and external_id: rows naming one of the person's
        messages by its provider id (inbound events, pending receipts)."""
        return self.interactions().filter(channel_id=OuterRef("channel_id"), external_id=OuterRef("external_id"))

    def calls(self) -> QuerySet[Call]:
        return Call.objects.filter(pk__in=self.call_ids)

    def callbacks(self) -> QuerySet[Callback]:
        return Callback.objects.filter(pk__in=self.callback_ids)

    def mentions(self, value: str) -> bool:
        lowered = value.lower()
        return any(needle.lower() in lowered for needle in self.needles)


def same_person(customer: Customer) -> list[int]:
    """`customer` and every customer merged into them, directly or through a chain of merges: one person's rows."""
    pks = [customer.pk]
    frontier = [customer.pk]
    while frontier:
        frontier = list(Customer.objects.filter(merged_into_id__in=frontier).values_list("pk", flat=True))
        frontier = [pk for pk in frontier if pk not in pks]
        pks += frontier
    return pks


def footprint_of(customer: Customer) -> Footprint:
    pks = same_person(customer)
    identities = list(Identity.objects.filter(customer_id__in=pks).values_list("kind", "address"))
    conversation_ids = list(Conversation.objects.filter(customer_id__in=pks).values_list("pk", flat=True))
    interaction_ids = list(
        Interaction.objects.filter(Q(customer_id__in=pks) | Q(conversation_id__in=conversation_ids)).values_list(
            "pk", flat=True
        )
    )
    calls = Call.objects.filter(
        Q(customer_id__in=pks)
        | Q(conversation_id__in=conversation_ids)
        | Q(linked_conversation_id__in=conversation_ids)
        | Q(interaction_id__in=interaction_ids)
    )
    call_rows = list(calls.values_list("pk", "call_id", "channel_id"))
    callbacks = Callback.objects.filter(
        Q(customer_id__in=pks) | Q(conversation_id__in=conversation_ids) | Q(call_id__in=[row[0] for row in call_rows])
    )
    callback_rows = list(callbacks.values_list("pk", "channel_id"))
    channel_ids = set(Conversation.objects.filter(pk__in=conversation_ids).values_list("channel_id", flat=True))
    channel_ids |= set(Interaction.objects.filter(pk__in=interaction_ids).values_list("channel_id", flat=True))
    channel_ids |= {row[2] for row in call_rows} | {row[1] for row in callback_rows}
    needles: set[str] = set()
    for kind, address in identities:
        needles |= phone_forms(address) if kind in PHONE_KINDS else {address}
    for number in Call.objects.filter(pk__in=[row[0] for row in call_rows]).values_list("number", "raw_number"):
        needles |= {form for value in number if value for form in phone_forms(value)}
    for callback_number in callbacks.values_list("number", flat=True):
        needles |= phone_forms(callback_number) if callback_number else set()
    return Footprint(
        customer_ids=pks,
        identities=identities,
        conversation_ids=conversation_ids,
        interaction_ids=interaction_ids,
        call_ids=[row[0] for row in call_rows],
        callback_ids=[row[0] for row in callback_rows],
        channel_ids=channel_ids,
        provider_call_ids=[row[1] for row in call_rows],
        needles={needle for needle in needles if len(needle) >= MIN_NEEDLE_LENGTH},
    )


def text_contains_any(field_name: str, needles: set[str]) -> tuple[str, Q]:
    """(alias, Q) matching rows whose field, as text (JSON included), contains one of `needles`, ignoring case."""
    alias = f"{field_name}_as_text"
    query = Q(pk__in=[])
    for needle in needles:
        query |= Q(**{f"{alias}__icontains": needle})
    return alias, query


def inbound_events_of(footprint: Footprint) -> QuerySet[InboundEvent]:
    """The raw inbound payloads of the person: their messages and receipts (by provider id), their calls' events,
    their widget's, and any payload on their channels that names one of their addresses.

    Email payloads are base64 (not searchable in SQL): those that became none of the stored messages (bounces,
    dropped automatic mail, dead letters) are decoded and searched here, on the person's channels only.
    """
    by_id = Q(Exists(footprint.interactions_with_provider_id()))
    for call_id in footprint.provider_call_ids:
        by_id |= Q(external_id__startswith=f"{call_id}:") | Q(external_id=call_id)
    if footprint.widget_ids:
        by_id |= Q(payload__visitor__in=footprint.widget_ids)
    on_channels = InboundEvent.objects.filter(channel_id__in=footprint.channel_ids)
    alias, mentions = text_contains_any("payload", footprint.needles)
    found = set(InboundEvent.objects.filter(by_id).values_list("pk", flat=True)) | set(
        on_channels.annotate(**{alias: Cast("payload", TextField())}).filter(mentions).values_list("pk", flat=True)
    )
    stored = Interaction.objects.filter(channel_id=OuterRef("channel_id"), external_id=OuterRef("external_id"))
    raw_mail = on_channels.filter(provider="email").exclude(Exists(stored)).exclude(pk__in=found)
    for pk, payload in raw_mail.values_list("pk", "payload").iterator(chunk_size=200):
        if _raw_mail_mentions(payload, footprint):
            found.add(pk)
    return InboundEvent.objects.filter(pk__in=found).order_by(F("pk"))


def _raw_mail_mentions(payload: object, footprint: Footprint) -> bool:
    if not isinstance(payload, dict) or not isinstance(payload.get("raw"), str):
        return False
    try:
        raw = base64.b64decode(payload["raw"])
    except (binascii.Error, ValueError):
        return False
    return footprint.mentions(raw.decode("latin-1"))
