"""Reads shared by the desk views, the API and the consumers."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from customers.models import Customer, Identity
from interactions import access, events
from interactions.models import Channel, Conversation, Interaction


def get_widget_channel(public_key: str) -> Channel | None:
    if not public_key:
        return None
    return Channel.objects.filter(public_key=public_key, kind=Channel.Kind.CHAT, is_active=True).first()


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


def customer_timeline(customer: Customer, *, before: int | None = None, limit: int = 50) -> list[Interaction]:
    """The customer's whole history on every channel, newest first, keyset-paginated by interaction id."""
    interactions = Interaction.objects.filter(customer=customer).select_related("channel", "author", "customer")
    if before is not None:
        interactions = interactions.filter(id__lt=before)
    return list(interactions.order_by("-id")[:limit])


def desk_lists(user: Any) -> dict[str, QuerySet[Conversation]]:
    """The desk's two lists: what is assigned to the agent, and what waits in their queues."""
    visible = access.conversations_visible_to(user).select_related("customer", "channel", "assignee")
    open_ = visible.filter(status=Conversation.Status.OPEN)
    return {
        "mine": open_.filter(assignee=user).order_by("-last_message_at", "-id"),
        "queue": open_.filter(assignee__isnull=True).order_by("queued_at", "id"),
    }
