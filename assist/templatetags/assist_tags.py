"""assist's pieces of the desk page: the Mentions list."""

from __future__ import annotations

from typing import Any

from django import template

from assist import notes

register = template.Library()


@register.inclusion_tag("desk/_mentions.html", takes_context=True)
def mentions_list(context: dict[str, Any]) -> dict[str, Any]:
    mentions = notes.mentions_for(context["request"].user)
    return {"mentions": mentions, "unread": sum(1 for m in mentions if m.read_at is None)}
