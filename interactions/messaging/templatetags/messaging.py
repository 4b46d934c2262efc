"""Desk template helpers for messaging channels."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from interactions.messaging import services
from interactions.models import Channel, Conversation

register = template.Library()


@register.simple_tag
def whatsapp_window(conversation: Conversation) -> dict[str, Any] | None:
    """The WhatsApp window of the conversation for the composer; None on other channels."""
    channel: Channel = conversation.channel
    if channel.kind != Channel.Kind.WHATSAPP:
        return None
    closes_at = services.whatsapp_window_closes_at(customer_id=conversation.customer_id, channel=channel)
    return {
        "open": closes_at is not None and timezone.now() < closes_at,
        "closes_at": closes_at,
        "templates": services.approved_templates(channel),
    }
