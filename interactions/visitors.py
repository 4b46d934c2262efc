"""Website visitors of the chat widget: who they are (signed tokens, signed identities) and what they may see.

The visitor side of the visibility rule lives here: a visitor sees only their own channel's chat messages, never
notes, internal ids or agents' usernames.

A visitor id is minted per channel and starts with that channel's tag (`<tag>.<random>`), so that pushes can be
addressed to the visitors of the interaction's own channel only. Tokens name the visitor, carry their issue time and
expire; a token of a visitor linked to a verified (signed) identity is honoured only when the hello carries that same
signed identity, so that after the website's user logs out the next person on that browser starts afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple, TypedDict

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from customers.models import Customer, Identity
from customers.services import normalize_email, resolve_identity
from interactions import events
from interactions.models import Channel, Interaction
from interactions.widget.limits import setting
from omnidesk import compiled_queries, realtime

VISITOR_TOKEN_SALT = "omnidesk.widget.visitor.v2"
# Longer tokens are not ours: refuse them before any signature work.
MAX_TOKEN_LENGTH = 1024


def anonymous_token_max_age() -> int:
    return int(setting("OMNIDESK_WIDGET_TOKEN_MAX_AGE", 24 * 3600))


def identified_token_max_age() -> int:
    return int(setting("OMNIDESK_WIDGET_IDENTIFIED_TOKEN_MAX_AGE", 3600))


def storable(text: str) -> bool:
    """Whether PostgreSQL can store `text` (in JSON too): no NUL character, no unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def claimed_identity(identity: Any) -> dict[str, str]:
    """The website's claim about its visitor, keeping only string fields we can store (others are ignored)."""
    if not isinstance(identity, dict):
        return {}
    limits = {"email": 320, "name": 1000, "identifier_hash": 128}
    return {
        field: value
        for field, limit in limits.items()
        if isinstance(value := identity.get(field), str) and len(value) <= limit and storable(value)
    }


# --- visitor ids and tokens ---------------------------------------------------------------------------------------


def channel_tag(channel: Channel) -> str:
    """A short, stable, public tag of the channel (derived from its public key, never from its database id)."""
    return hashlib.sha256(f"omnidesk.widget:{channel.public_key}".encode()).hexdigest()[:10]


def new_visitor_id(*, channel: Channel) -> str:
    return f"{channel_tag(channel)}.{uuid.uuid4().hex}"


def is_visitor_of(*, channel: Channel, visitor_id: str) -> bool:
    return visitor_id.startswith(f"{channel_tag(channel)}.")


class VisitorClaim(NamedTuple):
    visitor_id: str
    verified: bool


def issue_visitor_token(*, channel: Channel, visitor_id: str, verified: bool = False) -> str:
    """A signed, timestamped token naming the visitor, valid on its own channel only; nothing secret is stored.

    `verified` marks a visitor linked to a signed identity: such tokens expire sooner.
    """
    claims = {"c": channel.public_key, "v": visitor_id, "k": "i" if verified else "a"}
    return signing.dumps(claims, salt=VISITOR_TOKEN_SALT, compress=True)


def visitor_from_token(*, channel: Channel, token: Any) -> VisitorClaim | None:
    """The visitor a token names, or None when it is forged, expired, of another channel or not a token at all."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    anonymous, identified = anonymous_token_max_age(), identified_token_max_age()
    try:
        claims = signing.loads(token, salt=VISITOR_TOKEN_SALT, max_age=max(anonymous, identified))
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(claims, dict) or claims.get("c") != channel.public_key:
        return None
    visitor_id, kind = claims.get("v"), claims.get("k")
    if not isinstance(visitor_id, str) or kind not in ("a", "i"):
        return None
    if not is_visitor_of(channel=channel, visitor_id=visitor_id):
        return None
    try:
        signing.loads(token, salt=VISITOR_TOKEN_SALT, max_age=identified if kind == "i" else anonymous)
    except signing.BadSignature:
        return None
    return VisitorClaim(visitor_id, kind == "i")


def sign_visitor_email(*, channel: Channel, email: str) -> str:
    """What the website's server computes for a logged-in user: HMAC-SHA256(identity secret, email), in hex."""
    return hmac.new(channel.identity_secret.encode(), email.encode(), hashlib.sha256).hexdigest()


def signed_email(*, channel: Channel, email: Any, identifier_hash: Any) -> str | None:
    """The normalized email when the website signed it for this channel, else None."""
    if not isinstance(email, str) or not email.strip() or not isinstance(identifier_hash, str):
        return None
    email = email.strip()
    try:
        expected = sign_visitor_email(channel=channel, email=email)
        if not hmac.compare_digest(expected.encode(), identifier_hash.strip().lower().encode("utf-8")):
            return None
        return normalize_email(email)
    except (ValidationError, UnicodeError):
        return None


def returning_visitor(*, channel: Channel, token: Any, identity: Any) -> str | None:
    """The visitor id to honour for a hello with `token` and the website's `identity` claim; None starts a new one.

    A visitor linked to a verified customer is only honoured when the hello signs for that same customer: the page of
    a logged-out user passes no identity, so the next person on that browser must not see (nor write as) them.
    """
    claim = visitor_from_token(channel=channel, token=token)
    if claim is None:
        return None
    record = Identity.objects.filter(kind=Identity.Kind.WIDGET, address=claim.visitor_id).first()
    if not claim.verified and (record is None or not record.verified):
        return claim.visitor_id
    claimed = claimed_identity(identity)
    email = signed_email(channel=channel, email=claimed.get("email"), identifier_hash=claimed.get("identifier_hash"))
    if email is None or record is None:
        return None
    owner = Identity.objects.filter(kind=Identity.Kind.EMAIL, address=email).values_list("customer_id", flat=True)
    return claim.visitor_id if record.customer_id in list(owner) else None


# --- identity -----------------------------------------------------------------------------------------------------


def identify_visitor(*, channel: Channel, visitor_id: str, email: Any, name: Any, identifier_hash: Any) -> Customer:
    """Take what the website says about its visitor; link to an existing customer only when the website signed it.

    With a valid `identifier_hash` the visitor becomes the customer who owns that email (created if new), so their
    history follows them across devices. Without one, or with a wrong one, nothing links: typing someone else's email
    must never open their history. The claim is then kept as an unverified attribute of the visitor's own customer.
    A visitor who chatted anonymously before logging in keeps that earlier conversation on the anonymous record.
    """
    name = name.strip()[:200] if isinstance(name, str) else ""
    normalized = signed_email(channel=channel, email=email, identifier_hash=identifier_hash)
    email = email.strip() if isinstance(email, str) else ""
    with transaction.atomic():
        if normalized is not None:
            identity = resolve_identity(kind=Identity.Kind.EMAIL, address=normalized, display_name=name, verified=True)
            customer = identity.customer
            if not identity.verified:
                Identity.objects.filter(pk=identity.pk).update(verified=True)
            visitor, _created = Identity.objects.get_or_create(
                kind=Identity.Kind.WIDGET, address=visitor_id, defaults={"customer": customer, "verified": True}
            )
            if visitor.customer_id != customer.pk or not visitor.verified:
                Identity.objects.filter(pk=visitor.pk).update(customer=customer, verified=True)
            if name and not customer.display_name:
                Customer.objects.filter(pk=customer.pk).update(display_name=name)
            return customer
        identity = resolve_identity(kind=Identity.Kind.WIDGET, address=visitor_id, display_name=name)
        customer = Customer.objects.select_for_update().get(pk=identity.customer_id)
        if email:
            customer.attributes["unverified_email"] = email[:320]
        if name:
            customer.display_name = name
        customer.save(update_fields=["attributes", "display_name", "updated_at"])
        return customer


class Welcome(TypedDict):
    token: str
    history: list[events.VisitorMessage]


def greet_visitor(*, channel: Channel, visitor_id: str, identity: Any) -> Welcome:
    """What a visitor's hello answers: their (re)issued token and their history, after taking the website's claim."""
    claimed = claimed_identity(identity)
    if claimed.get("email") or claimed.get("name"):
        identify_visitor(
            channel=channel,
            visitor_id=visitor_id,
            email=claimed.get("email"),
            name=claimed.get("name"),
            identifier_hash=claimed.get("identifier_hash"),
        )
    verified = Identity.objects.filter(kind=Identity.Kind.WIDGET, address=visitor_id, verified=True).exists()
    return {
        "token": issue_visitor_token(channel=channel, visitor_id=visitor_id, verified=verified),
        "history": visitor_history(channel=channel, visitor_id=visitor_id),
    }


# --- what visitors see --------------------------------------------------------------------------------------------


def visitor_history(*, channel: Channel, visitor_id: str, limit: int = 100) -> list[events.VisitorMessage]:
    """The messages a returning visitor sees in the widget: their customer's chat on this channel, no notes."""
    identity = Identity.objects.filter(kind=Identity.Kind.WIDGET, address=visitor_id).first()
    if identity is None or not is_visitor_of(channel=channel, visitor_id=visitor_id):
        return []
    interactions = (
        Interaction.objects.filter(customer_id=identity.customer_id, channel=channel, kind=Interaction.Kind.MESSAGE)
        .select_related("author")
        .order_by("-created_at", "-id")[:limit]
    )
    return [events.visitor_message(interaction) for interaction in reversed(list(interactions))]


# The widget identities of an ingest batch's customers (customer id → addresses), read in one statement when the
# batch starts (see `widget_identities_for_batch`), instead of one per chat message.
_batch_widgets: ContextVar[dict[int, list[str]] | None] = ContextVar("batch_widgets", default=None)


@contextmanager
def widget_identities_for_batch(*, customer_ids: set[int]) -> Iterator[None]:
    """Within the block, `visitor_announcements` finds these customers' widgets without a statement. The batch holds
    the customers' locks, and reads after making its new senders' identities, so the list is the one a per-message
    read would see."""
    held: dict[int, list[str]] = {customer_id: [] for customer_id in customer_ids}
    if customer_ids:
        widgets = Identity.objects.filter(customer_id__in=customer_ids, kind=Identity.Kind.WIDGET).order_by("pk")
        for customer_id, address in widgets.values_list("customer_id", "address"):
            held[customer_id].append(address)
    token = _batch_widgets.set(held)
    try:
        yield
    finally:
        _batch_widgets.reset(token)


def widget_addresses(*, customer_id: int) -> QuerySet[Identity, str]:
    """The customer's widget visitor ids, as the batch reads them (compiled once: omnidesk/compiled_queries.py); a
    chat message outside a batch keeps those of its channel, as the batch does."""
    return (
        Identity.objects.filter(customer_id=customer_id, kind=Identity.Kind.WIDGET)
        .order_by("pk")
        .values_list("address", flat=True)
    )


def visitor_announcements(*, interaction: Interaction) -> list[realtime.Announcement]:
    """The widget pushes for a new desk-side entry: chat messages only, to the customer's widgets on that channel."""
    channel = interaction.channel
    if interaction.kind != Interaction.Kind.MESSAGE or channel.kind != Channel.Kind.CHAT:
        # Only chat entries go to the widget: the visitor did not write (nor receive) the email or SMS ones.
        return []
    prefix = f"{channel_tag(channel)}."
    held = _batch_widgets.get()
    if held is not None and interaction.customer_id in held:
        visitor_ids = [address for address in held[interaction.customer_id] if address.startswith(prefix)]
    else:
        found = compiled_queries.fetch(widget_addresses, customer_id=interaction.customer_id)
        visitor_ids = [address for address in found if address.startswith(prefix)]
    if not visitor_ids:
        return []
    public: events.VisitorMessageCreated = {"message": events.visitor_message(interaction)}
    groups = [realtime.visitor_group(visitor_id) for visitor_id in visitor_ids]
    return [realtime.Announcement("message.created", public, groups)]
