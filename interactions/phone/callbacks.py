"""Callbacks: missed and abandoned calls, and requests from the API, become work items with a time window.

A scheduled callback waits until its next attempt is due; the beat task then makes it a conversation in the voice
channel's queue, which routing hands to an agent like any other work. The agent calls and records the outcome; an
unanswered attempt is scheduled again, up to the attempt limit, as long as the window is open. Each step is an entry
in the customer's timeline. Per-channel settings (channel.config): `callback_window_minutes` (default 240),
`callback_max_attempts` (3), `callback_retry_minutes` (15).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import lock_customer_by_identity, normalize_phone
from interactions.announcements import announce_message
from interactions.cases import open_conversation
from interactions.models import Channel, Conversation, Interaction
from interactions.phone.models import Call, Callback
from interactions.phone.rows import insert_unless_exists
from interactions.services import resolve_conversation
from reporting import transitions as reporting_transitions  # rep

DEFAULTS = {"callback_window_minutes": 240, "callback_max_attempts": 3, "callback_retry_minutes": 15}
RETRYABLE = {Callback.Outcome.NO_ANSWER, Callback.Outcome.VOICEMAIL}
FINAL_STATUS = {
    Callback.Outcome.REACHED: Callback.Status.DONE,
    Callback.Outcome.WRONG_NUMBER: Callback.Status.FAILED,
    Callback.Outcome.CANCELLED: Callback.Status.CANCELLED,
}
ROUTE_BATCH = 100


def channel_setting(channel: Channel, name: str) -> int:
    value = (channel.config or {}).get(name, DEFAULTS[name])
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return DEFAULTS[name]


def entry_fields(*, callback: Callback, text: str, event: str) -> dict[str, Any]:
    return {
        "kind": Interaction.Kind.SYSTEM,
        "direction": Interaction.Direction.OUTBOUND,
        "text": text,
        "meta": {"callback": callback.pk, "callback_event": event, "attempt": callback.attempts},
    }


def add_entry(*, callback: Callback, conversation: Conversation, text: str, event: str) -> Interaction:
    """A system entry about the callback in the customer's timeline, announced to the desk."""
    interaction = Interaction.objects.create(
        conversation=conversation,
        customer_id=callback.customer_id,
        channel=callback.channel,
        **entry_fields(callback=callback, text=text, event=event),
    )
    announce_message(interaction=interaction)
    return interaction


def local_time(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _fields_of(callback: Callback) -> dict[str, Any]:
    return {
        field.attname: getattr(callback, field.attname)
        for field in Callback._meta.concrete_fields
        if not field.primary_key and field.attname != "call_id"
    }


def schedule_callback_for_missed_call(*, call: Call) -> Callback | None:
    """One callback per missed or abandoned inbound call, due now, for the channel's window. Idempotent."""
    if not call.number or call.customer_id is None:
        return None  # a withheld number cannot be called back
    now = timezone.now()
    channel = call.channel
    reason = Callback.Reason.ABANDONED if call.result == Call.Result.ABANDONED else Callback.Reason.MISSED
    callback = Callback(
        call=call,
        channel=channel,
        customer_id=call.customer_id,
        number=call.number,
        reason=reason,
        window_start=now,
        window_end=now + timedelta(minutes=channel_setting(channel, "callback_window_minutes")),
        next_attempt_at=now,
        max_attempts=channel_setting(channel, "callback_max_attempts"),
    )
    # One statement on the hang-up's path (get_or_create was four); the call's row lock makes a conflict rare.
    created = insert_unless_exists(callback, conflict=("call_id",))
    if not created:
        callback, created = Callback.objects.get_or_create(call=call, defaults=_fields_of(callback))
    if created:
        reporting_transitions.callback_requested(callback=callback)  # rep: reporting event
    if created and call.conversation is not None:
        text = _("Callback scheduled (%(reason)s), until %(until)s") % {
            "reason": callback.get_reason_display(),
            "until": local_time(callback.window_end),
        }
        add_entry(callback=callback, conversation=with_call_relations(call), text=text, event="scheduled")
    return callback


def with_call_relations(call: Call) -> Conversation:
    """The call's conversation, its customer, channel and assignee taken from the call when they are the same rows
    (the call's lock loaded them): announcing the entry reads them, three SELECTs per missed call otherwise."""
    conversation = call.conversation
    assert conversation is not None
    loaded = call._state.fields_cache  # only what the call holds already: reading one here would save nothing
    known = {
        "customer": [loaded.get("customer")],
        "channel": [loaded.get("channel")],
        "assignee": [loaded.get("agent"), loaded.get("target_agent"), loaded.get("answered_by")],
    }
    for relation, rows in known.items():
        if relation in conversation._state.fields_cache:
            continue
        wanted = getattr(conversation, f"{relation}_id")
        row = next((row for row in rows if row is not None and row.pk == wanted), None)
        if row is not None:
            conversation._state.fields_cache[relation] = row
    return conversation


def request_callback(
    *,
    channel: Channel,
    number: str,
    name: str = "",
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    note: str = "",
    by: Any = None,
) -> Callback:
    """A customer asked to be called back (API, later the contact page). ValidationError on a bad number or window."""
    if channel.kind != Channel.Kind.VOICE:
        raise ValidationError(_("Callbacks go through a phone channel."), code="not_voice")
    e164 = normalize_phone(number)
    now = timezone.now()
    start = window_start or now
    end = window_end or start + timedelta(minutes=channel_setting(channel, "callback_window_minutes"))
    if end <= start or end <= now:
        raise ValidationError(_("The callback window must end after it starts, in the future."), code="bad_window")
    with transaction.atomic():
        customer = lock_customer_by_identity(kind=Identity.Kind.PHONE, address=e164, display_name=name.strip()[:200])
        callback = Callback.objects.create(
            channel=channel,
            customer=customer,
            number=e164,
            reason=Callback.Reason.REQUESTED,
            note=note[:2000],
            window_start=start,
            window_end=end,
            next_attempt_at=max(start, now),
            max_attempts=channel_setting(channel, "callback_max_attempts"),
            requested_by=by if getattr(by, "is_authenticated", False) else None,
        )
        reporting_transitions.callback_requested(callback=callback)  # rep: reporting event
        return callback


def route_due_callbacks(*, now: datetime | None = None) -> list[Callback]:
    """Callbacks whose next attempt is due become conversations in their channel's queue (routed like other work);
    those whose window has passed expire. Safe with several beat runs at once (SKIP LOCKED)."""
    now = now or timezone.now()
    routed: list[Callback] = []
    for _i in range(ROUTE_BATCH):
        with transaction.atomic():
            callback = (
                Callback.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("channel__queue", "customer")
                .filter(status=Callback.Status.SCHEDULED, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "pk")
                .first()
            )
            if callback is None:
                break
            if callback.window_end <= now:
                callback.status = Callback.Status.EXPIRED
                callback.save(update_fields=["status", "updated_at"])
                continue
            route_callback(callback=callback, now=now)
            routed.append(callback)
    return routed


def route_callback(*, callback: Callback, now: datetime) -> None:
    """The attempt's case: work of its own in the voice queue, routed and timed like any case, with its entry."""
    Customer.objects.select_for_update().filter(pk=callback.customer_id).first()
    text = _("Call back %(number)s (attempt %(n)s of %(max)s)") % {
        "number": callback.number,
        "n": callback.attempts + 1,
        "max": callback.max_attempts,
    }
    if callback.note:
        text += f" — {callback.note}"
    entry = open_conversation(
        customer=callback.customer,
        channel=callback.channel,
        entry=entry_fields(callback=callback, text=text, event="due"),
        queue=callback.channel.queue,
        now=now,
    )
    callback.status = Callback.Status.ROUTED
    callback.conversation = entry.conversation
    callback.save(update_fields=["status", "conversation", "updated_at"])
    announce_message(interaction=entry)


def record_callback_outcome(*, callback: Callback, outcome: str, by: Any, note: str = "") -> Callback:
    """The agent called: reached (done), or not (retried while attempts and the window allow, else not reached)."""
    if outcome not in Callback.Outcome.values:
        raise ValidationError(_("Pick one of the offered outcomes."), code="bad_outcome")
    with transaction.atomic():
        callback = Callback.objects.select_for_update(of=("self",)).select_related("channel__queue").get(pk=callback.pk)
        if callback.status != Callback.Status.ROUTED or callback.conversation is None:
            raise ValidationError(_("This callback is not waiting for an outcome."), code="not_routed")
        now = timezone.now()
        callback.attempts += 1
        callback.outcome = outcome
        retry_at = now + timedelta(minutes=channel_setting(callback.channel, "callback_retry_minutes"))
        if outcome in RETRYABLE:
            retry = callback.attempts < callback.max_attempts and retry_at < callback.window_end
            callback.status = Callback.Status.SCHEDULED if retry else Callback.Status.FAILED
            callback.next_attempt_at = retry_at if retry else callback.next_attempt_at
        else:
            callback.status = FINAL_STATUS[Callback.Outcome(outcome)]
        conversation = callback.conversation
        callback.save()
        reporting_transitions.callback_completed(callback=callback, by=by)  # rep: reporting event
        text = _("Callback outcome: %(outcome)s (attempt %(n)s of %(max)s)") % {
            "outcome": callback.get_outcome_display(),
            "n": callback.attempts,
            "max": callback.max_attempts,
        }
        if callback.status == Callback.Status.SCHEDULED:
            text += " — " + _("next attempt at %(at)s") % {"at": local_time(callback.next_attempt_at)}
        if note.strip():
            text += f" — {note.strip()[:2000]}"
        add_entry(callback=callback, conversation=conversation, text=text, event="outcome")
        resolve_conversation(conversation=conversation, by=by)
    return callback
