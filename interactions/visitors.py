"""Website visitors of the chat widget: who they are (signed tokens, signed identities) and what they may see.

The visitor side of the visibility rule lives here: a visitor sees only their own channel's chat messages, never
notes, internal ids or agents' usernames.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction

from customers.models import Customer, Identity
from customers.services import normalize_email, resolve_identity
from interactions import events
from interactions.models import Channel, Interaction
from omnidesk import realtime

VISITOR_TOKEN_SALT = "omnidesk.widget.visitor"


# --- website visitors ---------------------------------------------------------------------------------------------


def issue_visitor_token(*, channel: Channel, visitor_id: str) -> str:
    """A signed token naming the visitor: nothing secret is stored, and it is only valid on its own channel."""
    return signing.dumps({"c": channel.pk, "v": visitor_id}, salt=VISITOR_TOKEN_SALT, compress=True)


def visitor_from_token(*, channel: Channel, token: str | None) -> str | None:
    if not token or not isinstance(token, str):
        return None
    try:
        claims = signing.loads(token, salt=VISITOR_TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(claims, dict) or claims.get("c") != channel.pk or not isinstance(claims.get("v"), str):
        return None
    return str(claims["v"])


def sign_visitor_email(*, channel: Channel, email: str) -> str:
    """What the website's server computes for a logged-in user: HMAC-SHA256(identity secret, email), in hex."""
    return hmac.new(channel.identity_secret.encode(), email.encode(), hashlib.sha256).hexdigest()


def identify_visitor(*, channel: Channel, visitor_id: str, email: Any, name: Any, identifier_hash: Any) -> Customer:
    """Take what the website says about its visitor; link to an existing customer only when the website signed it.

    With a valid `identifier_hash` the visitor becomes the customer who owns that email (created if new), so their
    history follows them across devices. Without one, or with a wrong one, nothing links: typing someone else's email
    must never open their history. The claim is then kept as an unverified attribute of the visitor's own customer.
    A visitor who chatted anonymously before logging in keeps that earlier conversation on the anonymous record.
    """
    email = email.strip() if isinstance(email, str) else ""
    name = name.strip()[:200] if isinstance(name, str) else ""
    signed = (
        bool(email)
        and isinstance(identifier_hash, str)
        and hmac.compare_digest(sign_visitor_email(channel=channel, email=email), identifier_hash.strip().lower())
    )
    normalized = ""
    if signed:
        try:
            normalized = normalize_email(email)
        except ValidationError:
            signed = False
    with transaction.atomic():
        if signed:
            identity = resolve_identity(kind=Identity.Kind.EMAIL, address=normalized, display_name=name, verified=True)
            customer = identity.customer
            if not identity.verified:
                Identity.objects.filter(pk=identity.pk).update(verified=True)
            visitor, _created = Identity.objects.get_or_create(
                kind=Identity.Kind.WIDGET, address=visitor_id, defaults={"customer": customer, "verified": True}
            )
            if visitor.customer_id != customer.pk:
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


def visitor_history(*, channel: Channel, visitor_id: str, limit: int = 100) -> list[events.MessageData]:
    """The messages a returning visitor sees in the widget: their customer's chat on this channel, no notes."""
    identity = Identity.objects.filter(kind=Identity.Kind.WIDGET, address=visitor_id).first()
    if identity is None:
        return []
    interactions = (
        Interaction.objects.filter(customer_id=identity.customer_id, channel=channel, kind=Interaction.Kind.MESSAGE)
        .select_related("customer", "author")
        .order_by("-created_at", "-id")[:limit]
    )
    return [events.message_data(interaction) for interaction in reversed(list(interactions))]


def visitor_announcements(*, interaction: Interaction) -> list[realtime.Announcement]:
    """The widget pushes for a new desk-side entry: chat messages only, to the customer's open widgets."""
    if interaction.kind != Interaction.Kind.MESSAGE or interaction.channel.kind != Channel.Kind.CHAT:
        # Only chat entries go to the widget: the visitor did not write (nor receive) the email or SMS ones.
        return []
    visitors = Identity.objects.filter(customer_id=interaction.customer_id, kind=Identity.Kind.WIDGET)
    visitor_ids = list(visitors.values_list("address", flat=True))
    if not visitor_ids:
        return []
    public: events.VisitorMessageCreated = {
        "conversation_id": interaction.conversation_id,
        "message": events.message_data(interaction),
    }
    groups = [realtime.visitor_group(visitor_id) for visitor_id in visitor_ids]
    return [realtime.Announcement("message.created", public, groups)]
