"""What agents do with a call: end after-call work, keep notes, decide on the case link, name an unknown caller."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import access
from interactions.phone.call_lock import locked_calls, with_users
from interactions.phone.models import Call, Disposition
from interactions.phone.services import ACTIVE_STATES, settle
from interactions.services import resolve_conversation
from reporting import transitions as reporting_transitions  # rep


def end_after_call_work(*, call: Call, by: Any, disposition: str, notes: str | None = None) -> Call:
    """The agent's wrap-up: the disposition code (and notes) ends after-call work and frees their voice capacity.

    Only the call's agent and supervisors (PermissionDenied otherwise), like every call action here.
    """
    access.require_call_action(by, call)
    with transaction.atomic():
        call = with_users(locked_calls().get(pk=call.pk))
        if call.state != Call.State.WRAP_UP:
            raise ValidationError(_("This call is not in wrap-up."), code="not_in_wrap_up")
        codes = Disposition.objects.filter(is_active=True)
        chosen = codes.filter(code=disposition).first()
        if chosen is None and (disposition or codes.exists()):
            raise ValidationError(_("Pick one of the disposition codes."), code="bad_disposition")
        call.disposition = chosen
        if notes is not None:
            call.notes = notes[:10_000]
        call.wrap_up_ended_at = timezone.now()
        settle(call)
        reporting_transitions.call_wrapped_up(call=call)  # rep: reporting event
        call.save()
        if call.conversation is not None and not has_other_active_call(call):
            resolve_conversation(conversation=call.conversation, by=by)
    return call


def save_call_notes(*, call: Call, by: Any, notes: str) -> Call:
    access.require_call_action(by, call)
    with transaction.atomic():
        call = with_users(locked_calls().get(pk=call.pk))
        call.notes = notes[:10_000]
        settle(call)
        call.save()
    return call


def has_other_active_call(call: Call) -> bool:
    return Call.objects.filter(conversation=call.conversation, state__in=ACTIVE_STATES).exclude(pk=call.pk).exists()


def decide_case_link(*, call: Call, by: Any, confirm: bool) -> Call:
    """The agent confirms that the call is about the linked open case (the customer had to use a second channel),
    or unlinks it."""
    access.require_call_action(by, call)
    with transaction.atomic():
        call = Call.objects.select_for_update(of=("self",)).get(pk=call.pk)
        if call.linked_conversation_id is None:
            raise ValidationError(_("This call is not linked to a case."), code="no_link")
        call.link_status = Call.LinkStatus.CONFIRMED if confirm else Call.LinkStatus.UNLINKED
        call.link_decided_by = by
        call.link_decided_at = timezone.now()
        call.save(update_fields=["link_status", "link_decided_by", "link_decided_at", "updated_at"])
    return call


def name_caller(*, call: Call, by: Any, name: str) -> Customer:
    """The new-customer form of an unknown caller's pop: the caller's customer record gets its name.

    The call's agent, supervisors, and the agents whose screen popped for it (they fill the form while it rings).
    """
    if not (access.is_active_agent(by) and by.pk in (call.popped_to or [])):
        access.require_call_action(by, call)
    name = name.strip()[:200]
    if not name:
        raise ValidationError(_("Enter the caller's name."), code="empty_name")
    if call.customer_id is None:
        raise ValidationError(_("This call has no caller yet."), code="no_caller")
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=call.customer_id)
        customer.display_name = name
        customer.save(update_fields=["display_name", "updated_at"])
    return customer
