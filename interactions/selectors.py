"""Reads shared by the desk views, the API and the consumers."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from customers.models import Customer, Identity
from interactions import access
from interactions.models import Channel, Conversation, Interaction
from interactions.phone.models import Callback


def get_widget_channel(public_key: str) -> Channel | None:
    if not public_key:
        return None
    return Channel.objects.filter(public_key=public_key, kind=Channel.Kind.CHAT, is_active=True).first()


def get_interaction_for_agent(user: Any, pk: Any) -> Interaction:
    """The timeline entry if `user` may see it (interactions/access.py: its conversation may be opened, and a note
    only by who may see notes); 404 otherwise, never revealing that it exists. Loaded with its channel and case."""
    visible = access.interactions_visible_to(user, Interaction.objects.select_related("channel", "conversation"))
    try:
        interaction = visible.get(pk=pk)
    except (Interaction.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such interaction") from None
    access.get_conversation_for_agent(user, interaction.conversation_id)
    return interaction


def get_interaction_for_action(user: Any, pk: Any) -> Interaction:
    """As `get_interaction_for_agent`, and 403 unless `user` may act on its conversation (split it off, retry it)."""
    interaction = get_interaction_for_agent(user, pk)
    access.get_conversation_for_action(user, interaction.conversation_id)
    return interaction


def customer_timeline(customer: Customer, *, before: int | None = None, limit: int = 50) -> list[Interaction]:
    """The customer's whole history on every channel, newest first, keyset-paginated by interaction id.

    Unfiltered: for services (merge, erase). Whatever is shown to a person goes through `customer_timeline_for`.
    """
    interactions = Interaction.objects.filter(customer=customer).select_related("channel", "author", "customer")
    if before is not None:
        interactions = interactions.filter(id__lt=before)
    return list(interactions.order_by("-id")[:limit])


def customer_timeline_for(
    user: Any, customer: Customer, *, before: int | None = None, limit: int = 50
) -> list[Interaction]:
    """The customer's timeline as `user` may see it (interactions/access.py): every channel and queue, notes only
    where `user` may see them, confidential conversations as metadata (`entry.redacted`). Newest first, keyset."""
    interactions = (
        Interaction.objects.filter(customer=customer)
        # What the timeline's template tags read of each entry, loaded with the page rather than once per entry: the
        # call record below a call (interactions/phone/templatetags) and the attachments of an email or a message.
        .select_related("channel", "author", "customer", "conversation__queue", "call__disposition", "call__agent")
        .prefetch_related("attachments")
    )
    interactions = access.interactions_visible_to(user, interactions)
    if before is not None:
        interactions = interactions.filter(id__lt=before)
    entries = access.redact(user, interactions.order_by("-id")[:limit])
    attach_due_callbacks(entries)
    return entries


def attach_due_callbacks(entries: list[Interaction]) -> None:
    """Give each "callback due" system entry its Callback as `entry.due_callback` (None when it is gone), in one
    query for the whole page: the timeline shows the callback's outcome form below such an entry."""
    due = [
        entry
        for entry in entries
        if entry.kind == Interaction.Kind.SYSTEM and (entry.meta or {}).get("callback_event") == "due"
    ]
    if not due:
        return
    ids = [entry.meta["callback"] for entry in due if isinstance(entry.meta.get("callback"), int)]
    found = Callback.objects.select_related("conversation__queue").in_bulk(ids)
    for entry in due:
        entry.due_callback = found.get(entry.meta.get("callback"))  # type: ignore[attr-defined]


def desk_lists(user: Any) -> dict[str, QuerySet[Conversation]]:
    """The desk's two lists: what is assigned to the agent, and what waits in their queues (work they may act on,
    not everything they may read)."""
    visible = access.conversations_actionable_by(user).select_related("customer", "channel", "assignee")
    open_ = access.with_preview_for(user, visible).filter(status=Conversation.Status.OPEN)
    return {
        "mine": open_.filter(assignee=user).order_by("-last_message_at", "-id"),
        "queue": open_.filter(assignee__isnull=True).order_by("queued_at", "id"),
    }


# Which customer identity a channel kind writes to; chat reaches the widget's visitors.
REPLY_IDENTITY_KINDS: dict[str, str] = {
    Channel.Kind.CHAT: Identity.Kind.WIDGET,
    Channel.Kind.EMAIL: Identity.Kind.EMAIL,
    Channel.Kind.SMS: Identity.Kind.PHONE,
    Channel.Kind.WHATSAPP: Identity.Kind.WHATSAPP,
    Channel.Kind.MESSENGER: Identity.Kind.MESSENGER,
    Channel.Kind.INSTAGRAM: Identity.Kind.INSTAGRAM,
    Channel.Kind.TELEGRAM: Identity.Kind.TELEGRAM,
    Channel.Kind.API: Identity.Kind.EXTERNAL,
}


def reply_channels(conversation: Conversation, user: Any = None) -> list[Channel]:
    """The channels an agent may answer this conversation on: its own first, then any active channel whose kind
    reaches one of the customer's identities (an email case can be answered by SMS if we know the number) and, when
    `user` is given, whose queue `user` may act on (never another team's number or mailbox)."""
    kinds = set(Identity.objects.filter(customer_id=conversation.customer_id).values_list("kind", flat=True))
    reachable = [channel_kind for channel_kind, identity_kind in REPLY_IDENTITY_KINDS.items() if identity_kind in kinds]
    others = Channel.objects.filter(is_active=True, kind__in=reachable).exclude(pk=conversation.channel_id)
    if user is not None:
        if not access.may_act_on(user, conversation):
            return []
        if not access.is_supervisor(user):
            others = others.filter(queue_id__in=access.member_queue_ids(user))
    return [conversation.channel, *others.order_by("kind", "name")]


def get_reply_channel(conversation: Conversation, channel_id: Any, user: Any = None) -> Channel | None:
    """The reply channel the agent picked, if it is one they may use for this conversation; None for the default."""
    if channel_id in (None, ""):
        return None
    for channel in reply_channels(conversation, user):
        if str(channel.pk) == str(channel_id):
            return channel
    raise Channel.DoesNotExist("not a reply channel of this conversation")
