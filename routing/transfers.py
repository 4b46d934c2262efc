"""Transfer a conversation to an agent or a queue, with a note the receiving agent sees."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from interactions.models import Conversation, Interaction
from omnidesk import realtime
from reporting import transitions as reporting_transitions  # rep
from routing import engine
from routing.models import AgentProfile, Queue, RoutingItem, Transfer

MAX_NOTE = 2000


def transfer_conversation(
    *, conversation: Conversation, by: Any, to_agent: Any = None, to_queue: Queue | None = None, note: str = ""
) -> Transfer:
    """Hand the conversation to another agent or queue; the note becomes an internal note in the conversation.

    An agent may transfer only to queues they can see, and to an agent who is a member of one of those queues and
    has room for the conversation's channel kind.
    """
    from interactions import access
    from interactions.services import announce_message
    from routing.selectors import queues_visible_to
    from routing.services import _announce, _item_for, assign_conversation, end_live_assignment, route_item

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
        item = _item_for(locked)
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
        entry = Interaction.objects.create(
            conversation=locked,
            customer_id=locked.customer_id,
            channel_id=locked.channel_id,
            kind=Interaction.Kind.NOTE,
            direction=Interaction.Direction.OUTBOUND,
            author=by,
            text=transfer_text(by=by, to_agent=to_agent, to_queue=to_queue, note=note),
            meta={"transfer_id": record.pk},
        )
        reporting_transitions.conversation_transferred(transfer=record)  # rep: reporting event
        previous_id = locked.assignee_id
        if to_agent is not None:
            assign_conversation(conversation=locked, agent=to_agent, by=by, note=note or "transfer")
        else:
            assert to_queue is not None
            end_live_assignment(conversation=locked, reason="transferred")
            item.queue = to_queue
            item.state = RoutingItem.State.WAITING
            item.agent = None
            item.overflowed_at = None
            item.rank = engine.rank_for(queue=to_queue, boost=item.boost, queued_at=item.queued_at)
            item.save()
            item.set_skills(
                required=set(to_queue.required_skills.values_list("pk", flat=True)),
                optional=set(to_queue.optional_skills.values_list("pk", flat=True)),
            )
            Conversation.objects.filter(pk=locked.pk).update(queue=to_queue, assignee=None, assigned_at=None)
            fresh = Conversation.objects.select_related("customer", "channel").get(pk=locked.pk)
            extra = [realtime.agent_group(previous_id)] if previous_id else []
            if route_item(item=RoutingItem.objects.select_related("queue").get(pk=item.pk)) is None:
                _announce(fresh, "conversation.queued", extra_groups=extra)
        entry.conversation = Conversation.objects.select_related("customer", "channel", "assignee").get(pk=locked.pk)
        announce_message(interaction=entry)
    if previous_id is not None and to_queue is not None:
        from routing.services import _route_for_user_id

        transaction.on_commit(lambda: _route_for_user_id(previous_id))
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
