"""Canned responses (issue 15, item 2): which ones an agent may use, the customer's language version, and the safe
filling-in of their variables.

Variables are `{{customer.first_name}}`, `{{customer.name}}`, `{{customer.<custom attribute>}}`, `{{agent.name}}`,
`{{agent.first_name}}`, `{{conversation.id}}`, each with an optional fallback after a bar:
`{{customer.first_name|there}}`.
The text is written by users, so it is NEVER given to Django's template engine (which would expose tags, filters and
attribute lookups): one regular expression replaces the variables with plain strings from a fixed table (an unknown
name of these three is empty, or its fallback), and anything else between braces is left as written.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet

from assist.models import CannedResponse
from interactions import access
from interactions.models import Conversation

VARIABLE = re.compile(r"\{\{\s*(customer|agent|conversation)\.([A-Za-z0-9_]+)\s*(?:\|([^{}]*))?\}\}")


def variables_for(*, conversation: Conversation, agent: Any) -> dict[str, str]:
    """The values a canned response may use, as plain strings (the customer's custom attributes included)."""
    customer = conversation.customer
    name = customer.display_name or ""
    attributes = customer.attributes if isinstance(customer.attributes, dict) else {}
    values: dict[str, str] = {
        f"customer.{key}": str(value)
        for key, value in attributes.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool)
    }
    first = str(attributes.get("first_name") or (name.split()[0] if name.split() else ""))
    values.update(
        {
            "customer.first_name": first,
            "customer.name": name,
            "agent.name": agent.get_full_name() or agent.first_name or agent.get_username(),
            "agent.first_name": agent.first_name or agent.get_username(),
            "conversation.id": str(conversation.pk),
        }
    )
    return values


def render(body: str, values: dict[str, str]) -> str:
    """`body` with each known variable replaced by its value, or its fallback when empty or unknown (else "")."""

    def replace(match: re.Match[str]) -> str:
        value = values.get(f"{match.group(1)}.{match.group(2)}", "")
        if value.strip():
            return value
        return (match.group(3) or "").strip()

    return VARIABLE.sub(replace, body)


def usable_by(user: Any) -> QuerySet[CannedResponse]:
    """The agent's own, their queues' and the global ones (supervisors: every queue's)."""
    if not access.is_active_agent(user):
        return CannedResponse.objects.none()
    queues = Q(scope=CannedResponse.Scope.QUEUE)
    if not access.is_supervisor(user):
        queues &= Q(queue_id__in=access.member_queue_ids(user))
    return CannedResponse.objects.filter(
        Q(scope=CannedResponse.Scope.PERSONAL, owner=user) | queues | Q(scope=CannedResponse.Scope.GLOBAL)
    )


def language_versions(responses: QuerySet[CannedResponse], language: str) -> list[CannedResponse]:
    """One version per (scope, owner, queue, shortcut): the customer's language ("fr-CA" matches "fr"), else the
    any-language one, else English, else the first."""
    wanted = (language or "").lower()
    base = wanted.split("-")[0]

    def rank(response: CannedResponse) -> int:
        lang = response.language.lower()
        if wanted and lang == wanted:
            return 0
        if base and lang == base:
            return 1
        if lang == "":
            return 2
        if lang.split("-")[0] == "en":
            return 3
        return 4

    best: dict[tuple[Any, ...], CannedResponse] = {}
    for response in responses.order_by("shortcut", "pk"):
        key = (response.scope, response.owner_id, response.queue_id, response.shortcut)
        if key not in best or rank(response) < rank(best[key]):
            best[key] = response
    return list(best.values())


def suggestions(*, user: Any, conversation: Conversation, query: str = "", limit: int = 20) -> list[dict[str, str]]:
    """The canned responses `user` may insert in `conversation`, matching `query`, rendered for its customer."""
    responses = usable_by(user)
    if query:
        responses = responses.filter(
            Q(shortcut__icontains=query) | Q(title__icontains=query) | Q(body__icontains=query)
        )
    values = variables_for(conversation=conversation, agent=user)
    chosen = language_versions(responses, conversation.customer.language)[:limit]
    return [
        {
            "id": str(response.pk),
            "shortcut": response.shortcut,
            "title": response.title,
            "language": response.language,
            "text": render(response.body, values),
        }
        for response in chosen
    ]
