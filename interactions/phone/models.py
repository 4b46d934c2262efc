"""The phone channel's records: one Call per provider call id, wrap-up codes, and callback work items."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Disposition(models.Model):
    """A wrap-up code the agent picks when the call's after-call work ends (configurable in the admin)."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("disposition")
        verbose_name_plural = _("dispositions")
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label


class Call(models.Model):
    """One telephone call as the provider reports it, keyed by its call id.

    Provider events arrive out of order and twice: each one only records the moment it reports (the earliest wins),
    and `state`, `result` and the timings are recomputed from all the moments known so far, so the record converges
    to the same final state whatever the order.
    """

    class State(models.TextChoices):
        REQUESTED = "requested", _("Requested")  # click-to-call sent, no event from the provider yet
        RINGING = "ringing", _("Ringing")
        ON_CALL = "on_call", _("On call")
        ON_HOLD = "on_hold", _("On hold")
        WRAP_UP = "wrap_up", _("Wrap-up")
        ENDED = "ended", _("Ended")

    class Result(models.TextChoices):
        ANSWERED = "answered", _("Answered")
        MISSED = "missed", _("Missed")
        VOICEMAIL = "voicemail", _("Voicemail")
        ABANDONED = "abandoned", _("Abandoned")

    class LinkStatus(models.TextChoices):
        SUGGESTED = "suggested", _("Suggested")
        CONFIRMED = "confirmed", _("Confirmed")
        UNLINKED = "unlinked", _("Unlinked")

    channel = models.ForeignKey("interactions.Channel", on_delete=models.PROTECT, related_name="calls")
    call_id = models.CharField(_("call id"), max_length=200)
    direction = models.CharField(_("direction"), max_length=3, default="in")
    # The customer's number as the provider sent it, and in E.164 when it could be read.
    raw_number = models.CharField(_("number as received"), max_length=64, blank=True)
    number = models.CharField(_("number"), max_length=32, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="calls"
    )
    # True when the number matched no customer before this call: the screen pop offers the new-customer form.
    caller_was_unknown = models.BooleanField(default=False)
    interaction = models.OneToOneField(
        "interactions.Interaction", on_delete=models.SET_NULL, null=True, blank=True, related_name="call"
    )
    conversation = models.ForeignKey(
        "interactions.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    queue = models.ForeignKey("routing.Queue", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Whom the provider rang first, and who has the call now (the answering agent, then any transfer target).
    target_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    # The agents whose screen popped: `call.answered` closes it for them.
    popped_to = models.JSONField(default=list, blank=True)
    # Each announcement goes out once, whichever event brought the call to that point.
    answer_announced = models.BooleanField(default=False)
    end_announced = models.BooleanField(default=False)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.RINGING)
    result = models.CharField(_("result"), max_length=16, choices=Result.choices, blank=True)
    cause = models.CharField(_("hang-up cause"), max_length=64, blank=True)
    intent = models.CharField(_("intent"), max_length=100, blank=True)
    recording_url = models.URLField(_("recording"), max_length=2000, blank=True)
    # Moments reported by the provider (event time, else reception time).
    ringing_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # [{"event": "hold"|"resumed", "at": ISO}] and [{"to": user id, "at": ISO}], in any order of arrival.
    holds = models.JSONField(default=list, blank=True)
    transfers = models.JSONField(default=list, blank=True)
    wrap_up_ended_at = models.DateTimeField(null=True, blank=True)
    disposition = models.ForeignKey(Disposition, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    notes = models.TextField(_("notes"), blank=True)
    # Channel attrition: the open case on another channel this caller already had.
    linked_conversation = models.ForeignKey(
        "interactions.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="linked_calls"
    )
    link_status = models.CharField(_("case link"), max_length=16, choices=LinkStatus.choices, blank=True)
    link_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    link_decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        constraints = [models.UniqueConstraint(fields=["channel", "call_id"], name="call_unique_call_id")]
        indexes = [models.Index(fields=["agent", "state"], name="call_agent_state")]

    def __str__(self) -> str:
        return f"{self.call_id} ({self.state})"


class Callback(models.Model):
    """A promise to call a customer back within a time window: routed like other work when due, then retried."""

    class Reason(models.TextChoices):
        MISSED = "missed", _("Missed call")
        ABANDONED = "abandoned", _("Abandoned call")
        REQUESTED = "requested", _("Requested")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        ROUTED = "routed", _("Waiting for an agent")
        DONE = "done", _("Done")
        FAILED = "failed", _("Not reached")
        EXPIRED = "expired", _("Window passed")
        CANCELLED = "cancelled", _("Cancelled")

    class Outcome(models.TextChoices):
        REACHED = "reached", _("Reached")
        NO_ANSWER = "no_answer", _("No answer")
        VOICEMAIL = "voicemail", _("Left a voicemail")
        WRONG_NUMBER = "wrong_number", _("Wrong number")
        CANCELLED = "cancelled", _("Cancelled")

    channel = models.ForeignKey("interactions.Channel", on_delete=models.PROTECT, related_name="callbacks")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="callbacks")
    number = models.CharField(_("number"), max_length=32)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    # The missed call it comes from: one callback per call, however often the hang-up is reported.
    call = models.OneToOneField(Call, on_delete=models.SET_NULL, null=True, blank=True, related_name="callback")
    note = models.TextField(_("note"), blank=True)
    window_start = models.DateTimeField(_("from"))
    window_end = models.DateTimeField(_("until"))
    next_attempt_at = models.DateTimeField(_("next attempt"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("attempt limit"), default=3)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    outcome = models.CharField(_("last outcome"), max_length=16, choices=Outcome.choices, blank=True)
    # The case of the current attempt, while it is routed.
    conversation = models.ForeignKey(
        "interactions.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("callback")
        verbose_name_plural = _("callbacks")
        indexes = [
            models.Index(fields=["next_attempt_at"], name="callback_due", condition=models.Q(status="scheduled"))
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"
