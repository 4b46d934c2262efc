"""assist's pieces of the desk page: the Mentions list and the next-best-action panel."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from assist import next_action, notes
from interactions.models import Conversation

register = template.Library()


@register.inclusion_tag("desk/_mentions.html", takes_context=True)
def mentions_list(context: dict[str, Any]) -> dict[str, Any]:
    mentions = notes.mentions_for(context["request"].user)
    return {"mentions": mentions, "unread": sum(1 for m in mentions if m.read_at is None)}


def next_action_panel_context(
    *, user: Any, conversation: Conversation, message: str = "", errors: list[str] | None = None
) -> dict[str, Any]:
    return {
        "conversation": conversation,
        "suggestions": next_action.suggestions_for(user=user, conversation=conversation),
        "voice_channels": next_action.voice_channels_for(user),
        "message": message,
        "errors": errors or [],
    }


@register.inclusion_tag("desk/_next_action.html", takes_context=True)
def next_best_actions(context: dict[str, Any], conversation: Conversation) -> dict[str, Any]:
    """The panel beside the conversation; empty for those who may only read it."""
    return {
        **next_action_panel_context(user=context["request"].user, conversation=conversation),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def upload_limit() -> str:
    """The composer's per-file size limit, for its hint."""
    return str(filesizeformat(settings.OMNIDESK_UPLOAD_MAX_BYTES))
