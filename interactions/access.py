"""Who may see what: the one place for it, used by the desk views, the API and the websocket consumers alike.

An agent sees the conversations assigned to them and those of the queues they are a member of; supervisors (and
staff) see everything. Realtime groups mirror exactly that rule.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from interactions.models import Attachment, Conversation
from omnidesk import realtime


def is_supervisor(user: Any) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    profile = getattr(user, "agent_profile", None)
    return bool(profile and profile.is_supervisor)


def conversations_visible_to(user: Any) -> QuerySet[Conversation]:
    if not user.is_authenticated:
        return Conversation.objects.none()
    if is_supervisor(user):
        return Conversation.objects.all()
    return Conversation.objects.filter(Q(assignee=user) | Q(queue__members=user)).distinct()


def get_conversation_for_agent(user: Any, pk: int) -> Conversation:
    """The conversation if `user` may see it; 404 otherwise (never reveal that it exists)."""
    conversation = conversations_visible_to(user).select_related("customer", "channel", "queue", "assignee")
    try:
        return conversation.get(pk=pk)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation") from None


def get_attachment_for_agent(user: Any, pk: int) -> Attachment:
    """A stored file of a conversation `user` may see; 404 otherwise, like the conversation itself."""
    try:
        attachment = Attachment.objects.select_related("interaction").get(pk=pk)
    except Attachment.DoesNotExist:
        raise Http404("No such attachment") from None
    get_conversation_for_agent(user, attachment.interaction.conversation_id)
    return attachment


def realtime_groups_for_agent(user: Any) -> list[str]:
    if not user.is_authenticated:
        return []
    groups = [realtime.agent_group(user.pk)]
    if is_supervisor(user):
        groups.append(realtime.supervisors_group())
    groups += [realtime.queue_group(pk) for pk in user.queues.values_list("pk", flat=True)]
    return groups


def audience_for_conversation(conversation: Conversation) -> list[str]:
    """The desk groups that may see `conversation` (never the customer's widget)."""
    groups = [realtime.supervisors_group()]
    if conversation.queue_id is not None:
        groups.append(realtime.queue_group(conversation.queue_id))
    if conversation.assignee_id is not None:
        groups.append(realtime.agent_group(conversation.assignee_id))
    return groups
