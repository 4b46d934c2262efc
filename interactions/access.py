"""Who may see what, and who may do what: the one place for it.

Every view, API, selector, template tag, export and realtime group asks this module; nothing else decides.

The rule (issue 11, a product decision):
- Only ACTIVE users count at all: a deactivated user sees nothing and may do nothing.
- A supervisor is a user whose agent profile has the supervisor role; `is_staff`/`is_superuser` alone is not one.
- Every active agent may look customers up (search, 360°, screen pop) and sees, in the timeline, the customer's
  messages and calls on every channel and queue.
- Internal notes (interactions of kind `note`: transfer notes, call notes, agent notes) are shown only to the members
  of the conversation's queue, its assignee and supervisors: the people who may act on it.
- A confidential queue's conversations are, for everyone else, metadata only (date, channel, queue, status): no text,
  HTML, attachments or notes, and they cannot be opened (404), replied to or exported.
- Any other conversation may be opened read-only by every active agent; acting on it (reply, resolve, status,
  transfer, intent correction, wrap-up) is for its queue's members, its assignee and supervisors (403 otherwise).
- Call actions (wrap-up, call notes, case link, naming the caller) are for the call's agent and supervisors.
- Replying: only through the conversation's own channel or a channel whose queue the agent may act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Case, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Left
from django.http import Http404
from django.utils.translation import gettext as _

from interactions.models import Attachment, Channel, Conversation, Interaction
from omnidesk import realtime
from routing.models import Queue

# People -------------------------------------------------------------------------------------------------------------


def is_active_agent(user: Any) -> bool:
    """Logged in and not deactivated: the minimum for seeing anything on the desk."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def is_supervisor(user: Any) -> bool:
    """An active user whose agent profile has the supervisor role (never merely `is_staff`)."""
    if not is_active_agent(user):
        return False
    profile = getattr(user, "agent_profile", None)
    return bool(profile is not None and profile.is_supervisor)


def member_queue_ids(user: Any) -> frozenset[int]:
    """The queues `user` is a member of (empty for anyone inactive). Read from the database on every call, never
    cached on the user: a long-lived socket must see a removal from a queue at once."""
    if not is_active_agent(user):
        return frozenset()
    return frozenset(user.queues.values_list("pk", flat=True))


class Viewer:
    """`user`'s standing read once, for checking many entries (a timeline page) without a query per entry."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.active = is_active_agent(user)
        self.supervisor = is_supervisor(user)
        self.queue_ids = member_queue_ids(user)

    def may_act_on(self, conversation: Conversation) -> bool:
        if not self.active:
            return False
        return self.supervisor or conversation.assignee_id == self.user.pk or conversation.queue_id in self.queue_ids

    def is_confidential_for(self, conversation: Conversation) -> bool:
        queue = conversation.queue
        return bool(queue is not None and queue.confidential and not self.may_act_on(conversation))


# Conversations ------------------------------------------------------------------------------------------------------


def _member_queues(user: Any) -> QuerySet[Any]:
    """The ids of `user`'s queues as a subquery: a filter built on it reads the membership inside its own statement
    (always current, like member_queue_ids, and without a query of its own: a screen pop filters three things)."""
    return Queue.members.through.objects.filter(user_id=user.pk).values("queue_id")


def _actionable_q(user: Any, prefix: str = "") -> Q:
    """Conversations (reached through `prefix`) whose queue `user` is a member of, or which are assigned to them."""
    return Q(**{f"{prefix}assignee": user}) | Q(**{f"{prefix}queue_id__in": _member_queues(user)})


def _not_confidential_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}queue__isnull": True}) | Q(**{f"{prefix}queue__confidential": False})


def conversations_actionable_by(user: Any) -> QuerySet[Conversation]:
    """What `user` may act on (reply, resolve, transfer…) and whose internal notes they see."""
    if not is_active_agent(user):
        return Conversation.objects.none()
    if is_supervisor(user):
        return Conversation.objects.all()
    return Conversation.objects.filter(_actionable_q(user))


def conversations_visible_to(user: Any) -> QuerySet[Conversation]:
    """What `user` may open: everything they may act on, and every conversation of a non-confidential queue."""
    if not is_active_agent(user):
        return Conversation.objects.none()
    if is_supervisor(user):
        return Conversation.objects.all()
    return Conversation.objects.filter(_actionable_q(user) | _not_confidential_q())


def may_act_on(user: Any, conversation: Conversation) -> bool:
    return Viewer(user).may_act_on(conversation)


def may_see_notes(user: Any, conversation: Conversation) -> bool:
    """Internal notes: the conversation's queue members, its assignee and supervisors (the people who may act)."""
    return may_act_on(user, conversation)


def is_confidential_for(user: Any, conversation: Conversation) -> bool:
    """True when `user` may see only the metadata of `conversation` (a confidential queue they cannot act on)."""
    return Viewer(user).is_confidential_for(conversation)


def may_open(user: Any, conversation: Conversation) -> bool:
    return is_active_agent(user) and not is_confidential_for(user, conversation)


def get_conversation_for_agent(user: Any, pk: Any) -> Conversation:
    """The conversation if `user` may open it (read-only or more); 404 otherwise (never reveal that it exists)."""
    try:
        return conversations_visible_to(user).select_related("customer", "channel", "queue", "assignee").get(pk=pk)
    except (Conversation.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such conversation") from None


def get_conversation_for_action(user: Any, pk: Any) -> Conversation:
    """The conversation if `user` may act on it: 404 if they may not even open it, 403 if they may only read it."""
    conversation = get_conversation_for_agent(user, pk)
    if not may_act_on(user, conversation):
        raise PermissionDenied(
            _("Only the members of this conversation's queue, its assignee and supervisors may do this.")
        )
    return conversation


def get_attachment_for_agent(user: Any, pk: Any) -> Attachment:
    """A stored file `user` may see: its conversation opens for them and, for a note's file, they see notes; 404
    otherwise, like the conversation itself."""
    try:
        attachment = Attachment.objects.select_related("interaction__conversation__queue").get(pk=pk)
    except (Attachment.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such attachment") from None
    conversation = get_conversation_for_agent(user, attachment.interaction.conversation_id)
    if attachment.interaction.kind == Interaction.Kind.NOTE and not may_see_notes(user, conversation):
        raise Http404("No such attachment")
    return attachment


# Timeline entries ---------------------------------------------------------------------------------------------------


def interactions_visible_to(user: Any, queryset: QuerySet[Interaction]) -> QuerySet[Interaction]:
    """`queryset` without what `user` may not know exists: everything for the inactive, notes they may not see.

    Entries of confidential conversations stay (as metadata): pass the rows through `redact` before showing them.
    """
    if not is_active_agent(user):
        return queryset.none()
    if is_supervisor(user):
        return queryset
    return queryset.filter(~Q(kind=Interaction.Kind.NOTE) | _actionable_q(user, "conversation__"))


def searchable_interactions_for(user: Any, queryset: QuerySet[Interaction]) -> QuerySet[Interaction]:
    """`queryset` restricted to entries whose TEXT `user` may read: a text search must not match hidden text (a
    hit on a confidential entry would disclose the word searched for)."""
    visible = interactions_visible_to(user, queryset)
    if is_supervisor(user) or not is_active_agent(user):
        return visible
    return visible.filter(_actionable_q(user, "conversation__") | _not_confidential_q("conversation__"))


# How much of the last entry a conversation list shows (the live list's events carry the same length).
PREVIEW_LENGTH = 140


def with_preview_for(user: Any, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """`queryset` annotated with `preview`: the start of the last entry `user` may read in each conversation.

    The last entry of any kind where they may act (notes included), the last non-note where the conversation is
    merely visible, nothing in a conversation that is confidential for them (metadata only).
    """
    entries = Interaction.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
    any_entry = Subquery(entries.annotate(head=Left("text", PREVIEW_LENGTH)).values("head")[:1])
    if not is_active_agent(user):
        return queryset.none()
    if is_supervisor(user):
        return queryset.annotate(preview=any_entry)
    public_entry = Subquery(
        entries.exclude(kind=Interaction.Kind.NOTE).annotate(head=Left("text", PREVIEW_LENGTH)).values("head")[:1]
    )
    return queryset.annotate(
        preview=Case(
            When(_actionable_q(user), then=any_entry),
            When(_not_confidential_q(), then=public_entry),
            default=Value(""),
        )
    )


def redact(user: Any, entries: Iterable[Interaction]) -> list[Interaction]:
    """The entries as `user` may see them; each gets `redacted` (True: metadata only) and `notes_hidden`.

    Confidential-for-`user` entries lose their text, HTML, details and attachments (in memory only: never save them);
    notes `user` may not see are dropped; a call's notes (in its details) are blanked for those who may not see notes.
    Load entries with `select_related("conversation__queue")` to keep this to no extra query.
    """
    viewer = Viewer(user)
    visible: list[Interaction] = []
    for entry in entries:
        conversation = entry.conversation
        notes_ok = viewer.may_act_on(conversation)
        if entry.kind == Interaction.Kind.NOTE and not notes_ok:
            continue
        entry.redacted = viewer.is_confidential_for(conversation)  # type: ignore[attr-defined]
        entry.notes_hidden = not notes_ok  # type: ignore[attr-defined]
        if entry.redacted:  # type: ignore[attr-defined]
            entry.text = ""
            entry.html = ""
            entry.meta = {}
            entry.error = ""
            entry._prefetched_objects_cache = {  # type: ignore[attr-defined]
                **getattr(entry, "_prefetched_objects_cache", {}),
                "attachments": Attachment.objects.none(),
            }
        elif not notes_ok and isinstance(entry.meta, dict) and entry.meta.get("notes"):
            entry.meta = {**entry.meta, "notes": ""}
        visible.append(entry)
    return visible


def may_act_on_queue(user: Any, queue_id: int | None) -> bool:
    """New work in a queue (a callback, a reply through its channel): its members and supervisors."""
    if not is_active_agent(user):
        return False
    return is_supervisor(user) or (queue_id is not None and queue_id in member_queue_ids(user))


def channels_actionable_by(user: Any) -> QuerySet[Channel]:
    """The channels `user` may speak through on their own initiative (callbacks, click-to-call)."""
    if not is_active_agent(user):
        return Channel.objects.none()
    if is_supervisor(user):
        return Channel.objects.all()
    return Channel.objects.filter(queue_id__in=member_queue_ids(user))


# Replying -----------------------------------------------------------------------------------------------------------


def may_reply_through(user: Any, conversation: Conversation, channel: Channel) -> bool:
    """The conversation's own channel, or a channel whose queue `user` may act on (never another team's)."""
    if not may_act_on(user, conversation):
        return False
    if channel.pk == conversation.channel_id or is_supervisor(user):
        return True
    return channel.queue_id in member_queue_ids(user)


# Calls --------------------------------------------------------------------------------------------------------------


def may_act_on_call(user: Any, call: Any) -> bool:
    """Wrap-up, call notes, case link and naming the caller: the call's agent and supervisors."""
    if not is_active_agent(user):
        return False
    return bool(call.agent_id == user.pk or is_supervisor(user))


def require_call_action(user: Any, call: Any) -> None:
    if not may_act_on_call(user, call):
        raise PermissionDenied(_("Only the call's agent and supervisors may do this."))


# Realtime -----------------------------------------------------------------------------------------------------------


def realtime_groups_for_agent(user: Any) -> list[str]:
    """The desk groups a socket of `user` joins: their own, their queues' and, for supervisors, the supervisors'."""
    if not is_active_agent(user):
        return []
    groups = [realtime.agent_group(user.pk)]
    if is_supervisor(user):
        groups.append(realtime.supervisors_group())
    groups += [realtime.queue_group(pk) for pk in sorted(member_queue_ids(user))]
    return groups


def audience_for_conversation(conversation: Conversation) -> list[str]:
    """The desk groups that may see everything of `conversation`, notes included (never the customer's widget):
    exactly the people who may act on it."""
    groups = [realtime.supervisors_group()]
    if conversation.queue_id is not None:
        groups.append(realtime.queue_group(conversation.queue_id))
    if conversation.assignee_id is not None:
        groups.append(realtime.agent_group(conversation.assignee_id))
    return groups
