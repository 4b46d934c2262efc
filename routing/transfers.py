"""Transfer a conversation to an agent or a queue, with a note the receiving agent sees."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from interactions import access, timeline
from interactions.announcements import announce_message
from interactions.models import Conversation, Interaction
from reporting import transitions as reporting_transitions  # rep
from routing.assignments import item_for
from routing.models import AgentProfile, Queue, Transfer
from routing.selectors import queues_visible_to
from routing.services import assign_conversation, move_to_queue

MAX_NOTE = 2000


def transfer_conversation(
    *, conversation: Conversation, by: Any, to_agent: Any = None, to_queue: Queue | None = None, note: str = ""
) -> Transfer:
    """Hand the conversation to another agent or queue; the note becomes an internal note in the conversation.

    An agent may transfer only to queues they can see, and to an agent who is a member of one of those queues and
    has room for the conversation's channel kind.
    """
    if (to_agent is None) == (to_queue is None):
        raise ValidationError(_("Transfer to either an agent or a queue."), code="transfer_target")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(_("A transfer note can be at most %(n)d characters.") % {"n": MAX_NOTE}, code="note")
    visible = queues_visible_to(by)
    if to_queue is not None and not visible.filter(pk=to_queue.pk).exists():
        raise PermissionDenied(_("You cannot transfer to a queue you cannot see."))
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().select_related("channel").get(pk=conversation.pk)
        if locked.status == Conversation.Status.RESOLVED:
            raise ValidationError(_("This conversation is resolved."), code="conversation_resolved")
        item = item_for(locked)
        if to_agent is not None:
            profile = AgentProfile.objects.filter(user=to_agent, user__is_active=True).first()
            if profile is None:
                raise ValidationError(_("This person is not an agent."), code="not_an_agent")
            if not access.is_supervisor(by) and not visible.filter(members=to_agent).exists():
                raise PermissionDenied(_("You can only transfer to agents of your queues."))
            if profile.load(item.capacity_class) >= profile.capacity(item.capacity_class):
                raise ValidationError(
                    _("%(name)s has no room for another %(kind)s conversation.")
                    % {
                        "name": to_agent.first_name or to_agent.get_username(),
                        "kind": item.get_capacity_class_display(),
                    },
                    code="agent_full",
                )
        record = Transfer.objects.create(
            conversation=locked,
            from_agent_id=locked.assignee_id,
            to_agent=to_agent,
            from_queue_id=locked.queue_id,
            to_queue=to_queue,
            note=note,
            by=by,
        )
        # Announced below, once the entry's conversation shows the new assignee.
        entry = timeline.add_entry(
            conversation=locked,
            kind=Interaction.Kind.NOTE,
            author=by,
            text=transfer_text(by=by, to_agent=to_agent, to_queue=to_queue, note=note),
            meta={"transfer_id": record.pk},
            announce=False,
        )
        reporting_transitions.conversation_transferred(transfer=record)  # rep: reporting event
        if to_agent is not None:
            assign_conversation(conversation=locked, agent=to_agent, by=by, note=note or "transfer")
        else:
            assert to_queue is not None
            move_to_queue(item=item, queue=to_queue, reset_skills=True, reason="transferred")
        entry.conversation = Conversation.objects.select_related("customer", "channel", "assignee").get(pk=locked.pk)
        announce_message(interaction=entry)
    return record


def transfer_text(*, by: Any, to_agent: Any, to_queue: Queue | None, note: str) -> str:
    who = by.first_name or by.get_username()
    if to_agent is not None:
        target = to_agent.first_name or to_agent.get_username()
        text = _("%(who)s transferred this conversation to %(target)s.") % {"who": who, "target": target}
    else:
        assert to_queue is not None
        text = _("%(who)s transferred this conversation to the %(queue)s queue.") % {"who": who, "queue": to_queue}
    return f"{text} {note}" if note else text
