"""Internal notes written from the composer, and the @mentions in them (issue 15, item 1).

A note is an Interaction of kind `note`: it stays on the desk (interactions.visitors only pushes chat *messages* to
widgets) and the timeline shows it only to those `access.may_see_notes` allows. A mention may only name someone who
may read the note: anyone else is refused, with the reason, and nothing is stored.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from assist.models import Mention
from interactions import access
from interactions.announcements import announce_message
from interactions.models import Conversation, Interaction
from omnidesk import realtime

# @username, not preceded by a word character or @ (so "jean@example.com" mentions nobody). Usernames may hold
# letters, digits and . + - _ ; a trailing dot is punctuation ("thanks @bob.").
MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")
NOTE_MAX_LENGTH = 10_000


class MentionData(TypedDict):
    mention_id: int
    conversation_id: int
    customer: str
    author: str
    text: str


def mentioned_usernames(text: str) -> list[str]:
    """The distinct usernames named in `text`, in order of appearance."""
    names: list[str] = []
    for match in MENTION.finditer(text):
        name = match.group(1).rstrip(".")
        if name and name.lower() not in (n.lower() for n in names):
            names.append(name)
    return names


def resolve_mentions(*, conversation: Conversation, text: str) -> list[Any]:
    """The users mentioned in `text`; ValidationError naming the first one who does not exist or may not see the
    conversation's notes (a mention must never hand a note to someone the visibility rule keeps it from)."""
    user_model = get_user_model()
    users: list[Any] = []
    errors: list[str] = []
    for name in mentioned_usernames(text):
        user = user_model.objects.filter(username__iexact=name, is_active=True).first()
        if user is None:
            errors.append(_("No active agent is called @%(name)s.") % {"name": name})
        elif not access.may_see_notes(user, conversation):
            errors.append(
                _(
                    "@%(name)s may not see this conversation's internal notes: mention a member of its queue, "
                    "its assignee or a supervisor."
                )
                % {"name": name}
            )
        else:
            users.append(user)
    if errors:
        raise ValidationError(errors, code="mention_refused")
    return users


def add_note(*, conversation: Conversation, author: Any, text: Any) -> Interaction:
    """Store an internal note on `conversation`, announce it to the people who may read notes, and notify each
    agent it mentions (live, and in their Mentions list). Never sent to the customer."""
    if not access.may_see_notes(author, conversation):
        raise PermissionDenied(
            _("Only the members of this conversation's queue, its assignee and supervisors may do this.")
        )
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("A note cannot be empty."), code="empty_note")
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            _("A note can be at most %(limit)d characters long.") % {"limit": NOTE_MAX_LENGTH}, code="note_too_long"
        )
    mentioned = resolve_mentions(conversation=conversation, text=text)
    with transaction.atomic():
        conversation = Conversation.objects.select_related("customer", "channel", "queue", "assignee").get(
            pk=conversation.pk
        )
        note = Interaction.objects.create(
            conversation=conversation,
            customer_id=conversation.customer_id,
            channel_id=conversation.channel_id,
            kind=Interaction.Kind.NOTE,
            direction=Interaction.Direction.OUTBOUND,
            author=author,
            text=text,
            meta={"mentions": [user.pk for user in mentioned]},
        )
        note.conversation = conversation
        announce_message(interaction=note)
        for user in mentioned:
            if user.pk == author.pk:
                continue
            mention = Mention.objects.create(note=note, conversation=conversation, user=user, author=author)
            data: MentionData = {
                "mention_id": mention.pk,
                "conversation_id": conversation.pk,
                "customer": conversation.customer.display_name or str(conversation.customer),
                "author": author.first_name or author.get_username(),
                "text": text[:200],
            }
            # Only the mentioned agent's own sockets: they may read the note (checked above).
            realtime.publish_on_commit(type="mention.created", data=data, groups=[realtime.agent_group(user.pk)])
    return note


def mentions_for(user: Any, *, limit: int = 20) -> list[Mention]:
    """`user`'s latest mentions, only in conversations whose notes they may still read (membership changes)."""
    if not access.is_active_agent(user):
        return []
    visible = access.conversations_actionable_by(user).values("pk")
    return list(
        Mention.objects.filter(user=user, conversation_id__in=visible)
        .select_related("conversation__customer", "author", "note")
        .order_by("-created_at")[:limit]
    )


def open_mention(*, user: Any, pk: Any) -> Mention:
    """`user`'s mention `pk`, marked read; 404 for anyone else's or one they may no longer read."""
    try:
        mention = Mention.objects.select_related("conversation").get(pk=pk, user=user)
    except (Mention.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such mention") from None
    if not access.may_see_notes(user, mention.conversation):
        raise Http404("No such mention")
    if mention.read_at is None:
        mention.read_at = timezone.now()
        mention.save(update_fields=["read_at"])
    return mention
