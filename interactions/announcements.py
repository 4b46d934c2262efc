"""What the desk and the widget are told when a conversation or a message changes: the announcement leaf.

Every layer announces through here (conversation verbs, routing, the channel families), so this module imports only
what sits below them all: models, the visibility rule, the event shapes and the realtime bus. Nothing here writes to
the database; every push leaves after commit (omnidesk/realtime.py).
"""

from __future__ import annotations

from interactions import access, events, visitors
from interactions.models import Conversation, Interaction
from omnidesk import realtime


def announce_message(*, interaction: Interaction) -> None:
    """Tell the desk, and the customer's open widgets, about a new message. Internal notes stay on the desk."""
    conversation = interaction.conversation
    message = events.message_data(interaction)
    desk: events.MessageCreated = {
        "conversation_id": conversation.pk,
        "message": message,
        "conversation": events.conversation_summary(conversation, preview=interaction.text),
    }
    announcements = [realtime.Announcement("message.created", desk, access.audience_for_conversation(conversation))]
    announcements += visitors.visitor_announcements(interaction=interaction)
    realtime.publish_many_on_commit(announcements)


def announce_conversation(
    *, conversation: Conversation, type: str, extra_groups: list[str] | None = None, preview: str | None = None
) -> None:
    """`type` (conversation.queued, .assigned, .resolved…) to whoever may see the case, plus `extra_groups`.

    `preview` is the last message's text when the caller already has it (routing's assignment does): None reads it.
    """
    data: events.ConversationChanged = {"conversation": events.conversation_summary(conversation, preview=preview)}
    groups = access.audience_for_conversation(conversation) + (extra_groups or [])
    realtime.publish_on_commit(type=type, data=data, groups=groups)


def announce_delivery_status(*, interaction: Interaction) -> None:
    """An outbound message moved on (queued, sent, delivered, read, failed): its tick on the desk follows."""
    conversation = interaction.conversation
    data = {
        "conversation_id": conversation.pk,
        "message_id": interaction.pk,
        "status": interaction.status,
        "error": interaction.error,
    }
    realtime.publish_on_commit(
        type="message.status_changed", data=data, groups=access.audience_for_conversation(conversation)
    )
