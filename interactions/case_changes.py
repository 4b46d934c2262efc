"""Agents reshape cases: split a message off into a new case, merge two cases of one customer, undo either.

The continuity rule (interactions/continuity.py) decides where each inbound message goes; the agent stays in control.
Every change is a `CaseChange` row listing exactly which entries moved, with a system entry in both cases, so undo
moves back exactly those entries and puts the cases back as they were. Threading follows the entries: an email's
Message-ID references and a call's record move with them, so the next reply threads into the case the entry is in.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions import access
from interactions.announcements import announce_conversation, announce_message
from interactions.cases import open_conversation
from interactions.mail.models import MessageReference
from interactions.models import CaseChange, Conversation, Interaction
from interactions.phone.models import Call
from interactions.services import resolve_conversation, set_conversation_status
from routing.services import assign_conversation

# What a customer sent us: the entries an agent may split off (notes, replies and system entries stay put).
CUSTOMER_ENTRIES = (Interaction.Kind.MESSAGE, Interaction.Kind.CALL)


def _name(user: Any) -> str:
    return str(user.first_name or user.get_username()) if user is not None else _("Someone")


def _require_action(user: Any, *conversations: Conversation) -> None:
    for conversation in conversations:
        if not access.may_act_on(user, conversation):
            raise PermissionDenied(
                _("Only the members of this conversation's queue, its assignee and supervisors may do this.")
            )


def _locked(*pks: int) -> dict[int, Conversation]:
    rows = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("customer", "channel", "assignee", "queue")
        .filter(pk__in=pks)
        .order_by("pk")  # always in id order: two agents reshaping the same pair never deadlock
    )
    return {conversation.pk: conversation for conversation in rows}


def _move(*, ids: list[int], to: Conversation) -> None:
    Interaction.objects.filter(pk__in=ids).update(conversation=to)
    MessageReference.objects.filter(interaction_id__in=ids).update(conversation=to)
    Call.objects.filter(interaction_id__in=ids).update(conversation=to)
    latest = Interaction.objects.filter(conversation=to).aggregate(at=Max("created_at"))["at"]
    Conversation.objects.filter(pk=to.pk).update(last_message_at=latest, updated_at=timezone.now())


def _record(*, conversation: Conversation, change: CaseChange, text: str, by: Any) -> Interaction:
    """A system entry saying what happened to the case; announced to the desk, never to the customer."""
    entry = Interaction.objects.create(
        conversation=conversation,
        customer_id=conversation.customer_id,
        channel=conversation.channel,
        kind=Interaction.Kind.SYSTEM,
        direction=Interaction.Direction.OUTBOUND,
        author=by,
        text=text,
        meta={"case_change": change.pk, "case_change_kind": change.kind},
    )
    entry.conversation = conversation
    announce_message(interaction=entry)
    return entry


def _mark_undone(change: CaseChange) -> None:
    # The desk offers Undo on the change's system entries while this flag is absent.
    for entry in Interaction.objects.filter(meta__case_change=change.pk):
        entry.meta = {**entry.meta, "case_change_undone": True}
        entry.save(update_fields=["meta"])


def split_off(*, interaction: Interaction, by: Any) -> CaseChange:
    """Move one customer message or call into a new case of its own, kept by the case's agent (else routed)."""
    with transaction.atomic():
        source = _locked(interaction.conversation_id)[interaction.conversation_id]
        _require_action(by, source)
        interaction = Interaction.objects.select_related("channel").get(pk=interaction.pk)
        if source.status == Conversation.Status.RESOLVED:
            raise ValidationError(_("This conversation is resolved."), code="conversation_resolved")
        if interaction.kind not in CUSTOMER_ENTRIES or interaction.direction != Interaction.Direction.INBOUND:
            raise ValidationError(_("Only a customer's message or call can be split off."), code="not_splittable")
        others = source.interactions.filter(direction=Interaction.Direction.INBOUND, kind__in=CUSTOMER_ENTRIES)
        if not others.exclude(pk=interaction.pk).exists():
            raise ValidationError(
                _("This is the case's only message from the customer: there is nothing to split it from."),
                code="only_message",
            )
        # The new case opens with a system entry, then the message moves into it: the same open_conversation verb
        # as every case, kept by the agent who split it off when the case was theirs, else routed.
        target = open_conversation(
            customer=source.customer,
            channel=interaction.channel,
            entry={
                "kind": Interaction.Kind.SYSTEM,
                "direction": Interaction.Direction.OUTBOUND,
                "author": by,
                "text": _("%(name)s split this message off case #%(case)s.") % {"name": _name(by), "case": source.pk},
            },
            queue=source.queue,
            agent=source.assignee,
        ).conversation
        _move(ids=[interaction.pk], to=target)
        _move(ids=[], to=source)  # nothing more moves: the source's last activity is recounted without the message
        change = CaseChange.objects.create(
            kind=CaseChange.Kind.SPLIT,
            source=source,
            target=target,
            interaction_ids=[interaction.pk],
            previous_status=source.status,
            previous_assignee=source.assignee,
            by=by,
        )
        Interaction.objects.filter(conversation=target, kind=Interaction.Kind.SYSTEM).update(
            meta={"case_change": change.pk, "case_change_kind": change.kind}
        )
        _record(
            conversation=source,
            change=change,
            by=by,
            text=_("%(name)s split a message off into case #%(case)s.") % {"name": _name(by), "case": target.pk},
        )
        announce_conversation(conversation=source, type="conversation.status_changed")
    return change


def merge_cases(*, source: Conversation, target: Conversation, by: Any) -> CaseChange:
    """Move every entry of `source` into `target` (same customer); `source` is resolved, pointing at `target`."""
    if source.pk == target.pk:
        raise ValidationError(_("A case cannot be merged into itself."), code="same_case")
    with transaction.atomic():
        locked = _locked(source.pk, target.pk)
        source, target = locked[source.pk], locked[target.pk]
        _require_action(by, source, target)
        if source.customer_id != target.customer_id:
            raise ValidationError(_("Only cases of the same customer can be merged."), code="other_customer")
        if Conversation.Status.RESOLVED in (source.status, target.status):
            raise ValidationError(_("Resolved cases cannot be merged."), code="conversation_resolved")
        ids = list(source.interactions.order_by("pk").values_list("pk", flat=True))
        _move(ids=ids, to=target)
        change = CaseChange.objects.create(
            kind=CaseChange.Kind.MERGE,
            source=source,
            target=target,
            interaction_ids=ids,
            previous_status=source.status,
            previous_assignee=source.assignee,
            by=by,
        )
        _record(
            conversation=target,
            change=change,
            by=by,
            text=_("%(name)s merged case #%(case)s into this case.") % {"name": _name(by), "case": source.pk},
        )
        _record(
            conversation=source,
            change=change,
            by=by,
            text=_("%(name)s merged this case into case #%(case)s.") % {"name": _name(by), "case": target.pk},
        )
        resolve_conversation(conversation=source, by=by)
        announce_conversation(conversation=target, type="conversation.status_changed")
    return change


def undo_case_change(*, change: CaseChange, by: Any) -> CaseChange:
    """Put back exactly the entries the change moved; a split-off case is resolved, a merged-away case reopens."""
    with transaction.atomic():
        change = CaseChange.objects.select_for_update().get(pk=change.pk)
        if change.undone_at is not None:
            raise ValidationError(_("This change was already undone."), code="already_undone")
        locked = _locked(change.source_id, change.target_id)
        source, target = locked[change.source_id], locked[change.target_id]
        _require_action(by, source, target)
        moved = Interaction.objects.filter(pk__in=change.interaction_ids, conversation=target)
        _move(ids=list(moved.values_list("pk", flat=True)), to=source)
        change.undone_at = timezone.now()
        change.undone_by = by
        change.save(update_fields=["undone_at", "undone_by"])
        if change.kind == CaseChange.Kind.SPLIT:
            _record(
                conversation=source,
                change=change,
                by=by,
                text=_("%(name)s undid the split: the message is back in this case.") % {"name": _name(by)},
            )
            resolve_conversation(conversation=target, by=by)
            announce_conversation(conversation=source, type="conversation.status_changed")
        else:
            _reopen(source, change=change, by=by)
            _record(
                conversation=target,
                change=change,
                by=by,
                text=_("%(name)s undid the merge of case #%(case)s.") % {"name": _name(by), "case": source.pk},
            )
            _record(
                conversation=source,
                change=change,
                by=by,
                text=_("%(name)s undid the merge: this case is back.") % {"name": _name(by)},
            )
            announce_conversation(conversation=target, type="conversation.status_changed")
        _mark_undone(change)
    return change


def _reopen(conversation: Conversation, *, change: CaseChange, by: Any) -> None:
    """The merged-away case as it was: its status (its clocks start afresh) and its agent, by direct assignment."""
    status = change.previous_status or Conversation.Status.OPEN
    if status == Conversation.Status.SNOOZED:
        status = Conversation.Status.OPEN  # the snooze's moment may have passed: the agent snoozes it again if need be
    set_conversation_status(conversation=conversation, status=status, by=by)
    agent = change.previous_assignee
    if agent is not None and agent.is_active:
        # Resolving kept the assignee but ended the assignment: hand it back afresh.
        Conversation.objects.filter(pk=conversation.pk).update(assignee=None)
        assign_conversation(conversation=Conversation.objects.get(pk=conversation.pk), agent=agent, by=by)
