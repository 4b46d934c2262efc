"""Typed payloads of the realtime events about conversations and messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NotRequired, TypedDict

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from interactions.models import Channel, Conversation, Interaction


class MessageData(TypedDict):
    id: int
    uuid: str | None
    kind: str
    direction: str
    author: str
    # The entry's own channel kind, labelled (a case spans channels: each entry says where it came or went).
    channel_label: str
    text: str
    at: str


class ConversationSummary(TypedDict):
    id: int
    customer: str
    channel: str
    status: str
    queue_id: int | None
    assignee_id: int | None
    assignee: str
    preview: str
    last_message_at: str | None


class MessageCreated(TypedDict):
    """`message.created` on the desk: the message and the conversation as it now stands."""

    conversation_id: int
    message: MessageData
    conversation: ConversationSummary


class VisitorMessage(TypedDict):
    """A message as the customer's widget sees it: no database ids, no usernames, no kind (only messages go there)."""

    id: str
    uuid: str | None
    direction: str
    author: str
    text: str
    at: str
    survey: NotRequired[dict[str, Any]]  # rep: a survey's answer URL, choices and question (widget buttons)


class VisitorMessageCreated(TypedDict):
    """`message.created` on the customer's widget: nothing internal."""

    message: VisitorMessage


class ConversationChanged(TypedDict):
    """`conversation.queued`, `conversation.assigned`, `conversation.resolved`."""

    conversation: ConversationSummary


def author_name(interaction: Interaction) -> str:
    if interaction.direction == Interaction.Direction.INBOUND:
        return interaction.customer.display_name or str(interaction.customer)
    if interaction.author is None:
        return ""
    return interaction.author.first_name or interaction.author.get_username()


def kind_label(kind: str) -> str:
    """What `channel.get_kind_display()` says, in the active language: Django rebuilds the choices' dict on every
    call, hashing (so translating) every lazy label: ~20 translations per ingested message (docs/performance.md)."""
    try:
        return str(Channel.Kind(kind).label)
    except ValueError:
        return kind  # as get_kind_display: a value outside the choices is shown as is


def message_data(interaction: Interaction) -> MessageData:
    return {
        "id": interaction.pk,
        "uuid": interaction.external_id if interaction.direction == Interaction.Direction.INBOUND else None,
        "kind": interaction.kind,
        "direction": interaction.direction,
        "author": author_name(interaction),
        "channel_label": kind_label(interaction.channel.kind),
        "text": interaction.text,
        "at": interaction.created_at.isoformat(),
    }


def opaque_message_id(interaction: Interaction) -> str:
    """A stable id the widget can deduplicate on that says nothing about our row numbers (keyed by SECRET_KEY)."""
    return salted_hmac("omnidesk.widget.message", str(interaction.pk)).hexdigest()[:24]


def visitor_author_name(interaction: Interaction) -> str:
    """Agents are shown to visitors by first name, or a neutral label; never by username."""
    if interaction.direction == Interaction.Direction.INBOUND:
        return ""
    if interaction.author is not None and interaction.author.first_name:
        return str(interaction.author.first_name)
    return _("Agent")


def visitor_message(interaction: Interaction) -> VisitorMessage:
    inbound = interaction.direction == Interaction.Direction.INBOUND
    message: VisitorMessage = {
        "id": opaque_message_id(interaction),
        "uuid": interaction.external_id if inbound else None,
        "direction": interaction.direction,
        "author": visitor_author_name(interaction),
        "text": interaction.text,
        "at": interaction.created_at.isoformat(),
    }
    if "survey" in interaction.meta:  # rep: survey buttons in the widget
        message["survey"] = interaction.meta["survey"]
    return message


# The latest entry's text of the case being written to, while ingest holds it: what announcements made meanwhile
# (routing's "queued" / "assigned") would otherwise read back with a SELECT per message.
_latest_text: ContextVar[tuple[int, str] | None] = ContextVar("latest_text", default=None)


@contextmanager
def latest_entry_is(*, conversation_id: int, text: str) -> Iterator[None]:
    """Within the block, `text` is the latest entry of the case (the caller just added it and holds the case)."""
    token = _latest_text.set((conversation_id, text))
    try:
        yield
    finally:
        _latest_text.reset(token)


def conversation_summary(conversation: Conversation, *, preview: str | None = None) -> ConversationSummary:
    known = _latest_text.get()
    if preview is None and known is not None and known[0] == conversation.pk:
        preview = known[1]
    if preview is None:
        last = conversation.interactions.order_by("-created_at", "-id").only("text").first()
        preview = last.text if last else ""
    assignee = conversation.assignee
    return {
        "id": conversation.pk,
        "customer": str(conversation.customer),
        "channel": kind_label(conversation.channel.kind),
        "status": conversation.status,
        "queue_id": conversation.queue_id,
        "assignee_id": conversation.assignee_id,
        "assignee": (assignee.first_name or assignee.get_username()) if assignee else "",
        "preview": preview[:140],
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
    }
