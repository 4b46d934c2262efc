"""Reporting: immutable KPI events, their 15-minute rollups, per-queue KPI settings and surveys.

Reports read `IntervalStat` only; `ReportingEvent` is the audit trail and the drill-down (which conversations are
behind a figure). Dimensions on both are plain ids rather than foreign keys with cascades: an event must outlive a
renamed or deleted queue, and a rollup row must never be rewritten by a delete elsewhere.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class EventKind(models.TextChoices):
    OFFERED_TO_QUEUE = "offered_to_queue", _("Offered to queue")
    OFFERED_TO_AGENT = "offered_to_agent", _("Offered to agent")
    ANSWERED = "answered", _("Answered")
    ABANDONED = "abandoned", _("Abandoned")
    SHORT_ABANDONED = "short_abandoned", _("Short abandon")
    FIRST_RESPONSE = "first_response", _("First response")
    AGENT_REPLY = "agent_reply", _("Agent reply")
    CUSTOMER_MESSAGE = "customer_message", _("Customer message")
    TRANSFER_OUT = "transfer_out", _("Transferred out")
    TRANSFER_IN = "transfer_in", _("Transferred in")
    HOLD_START = "hold_start", _("Hold started")
    HOLD_STOP = "hold_stop", _("Hold ended")
    WRAPUP_START = "wrapup_start", _("Wrap-up started")
    WRAPUP_STOP = "wrapup_stop", _("Wrap-up ended")
    RESOLVED = "resolved", _("Resolved")
    REOPENED = "reopened", _("Reopened")
    SURVEY_SENT = "survey_sent", _("Survey sent")
    SURVEY_ANSWERED = "survey_answered", _("Survey answered")
    CALLBACK_REQUESTED = "callback_requested", _("Callback requested")
    CALLBACK_COMPLETED = "callback_completed", _("Callback completed")
    # Not a conversation transition: an agent's staffed (available or busy) time, the occupancy denominator.
    AGENT_STAFFED = "agent_staffed", _("Agent staffed time")
    # A messaging case waiting on the customer (pending or snoozed): subtracted from its handle time.
    PENDING_START = "pending_start", _("Pending on customer")
    PENDING_STOP = "pending_stop", _("Back from pending")


class ReportingEvent(models.Model):
    """One KPI-relevant transition. Written once, never updated (save() refuses an update)."""

    kind = models.CharField(_("kind"), max_length=24, choices=EventKind.choices)
    at = models.DateTimeField(_("at"))
    bucket = models.DateTimeField(_("15-minute interval"))
    queue_id = models.IntegerField(_("queue"), null=True, blank=True)
    channel_kind = models.CharField(_("channel kind"), max_length=16, blank=True)
    channel_id = models.IntegerField(_("channel"), null=True, blank=True)
    intent_id = models.IntegerField(_("intent"), null=True, blank=True)
    agent_id = models.IntegerField(_("agent"), null=True, blank=True)
    customer_id = models.BigIntegerField(_("customer"), null=True, blank=True)
    conversation_id = models.BigIntegerField(_("conversation"), null=True, blank=True)
    in_business_hours = models.BooleanField(_("in business hours"), default=True)
    duration_seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    business_seconds = models.FloatField(_("business-hours duration (s)"), null=True, blank=True)
    handle_seconds = models.FloatField(_("handle time (s)"), null=True, blank=True)
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    meta = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("reporting event")
        verbose_name_plural = _("reporting events")
        indexes = [
            models.Index(fields=["kind", "bucket"], name="reporting_event_kind_bucket"),
            models.Index(fields=["conversation_id"], name="reporting_event_conversation"),
            # A case's first resolution after an offer (channel attrition) without reading the case's other events.
            models.Index(fields=["conversation_id", "kind", "at"], name="reporting_event_case_kind_at"),
            models.Index(fields=["customer_id", "at"], name="reporting_event_customer_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("reporting events are immutable")
        super().save(*args, **kwargs)


# The rollup's counters: one column per summable figure. `reporting.events` maps each event kind to these.
COUNTERS = (
    "offered",
    "offered_to_agent",
    "answered",
    "answered_in_target",
    "answer_wait_seconds",
    "answer_wait_business_seconds",
    "offered_out_of_hours",
    "abandoned",
    "abandoned_in_target",
    "abandon_wait_seconds",
    "short_abandoned",
    "first_responses",
    "first_response_seconds",
    "first_response_business_seconds",
    "replies",
    "reply_seconds",
    "transfers_out",
    "transfers_in",
    "holds",
    "hold_seconds",
    "talk_seconds",
    "wrapups",
    "wrapup_seconds",
    "handled",
    "handle_seconds",
    "chat_handle_seconds",
    "resolved",
    "reopened",
    "surveys_sent",
    "surveys_answered",
    "csat_answers",
    "csat_satisfied",
    "nps_answers",
    "nps_promoters",
    "nps_detractors",
    "ces_answers",
    "ces_total",
    "ces_easy",
    "callbacks_requested",
    "callbacks_completed",
    "staffed_seconds",
    "chat_slot_seconds",
    # FCR and channel attrition, kept by reporting/followups.py (docs/kpis.md): resolutions later marked "repeated"
    # (in the resolution's row), cases (in the row of their first offer) and those later marked "attrited".
    "resolutions_repeated",
    "cases",
    "cases_attrited",
)


class Counters(models.Model):
    """The summed counters of a rollup row (COUNTERS), shared by the 15-minute and the daily rollups."""

    offered = models.IntegerField(default=0)
    offered_to_agent = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    answered_in_target = models.IntegerField(default=0)
    answer_wait_seconds = models.FloatField(default=0)
    # Business-hours figures: the wait counted in the queue's open hours only, and offers that came while closed.
    answer_wait_business_seconds = models.FloatField(default=0)
    offered_out_of_hours = models.IntegerField(default=0)
    abandoned = models.IntegerField(default=0)
    abandoned_in_target = models.IntegerField(default=0)
    abandon_wait_seconds = models.FloatField(default=0)
    short_abandoned = models.IntegerField(default=0)
    first_responses = models.IntegerField(default=0)
    first_response_seconds = models.FloatField(default=0)
    first_response_business_seconds = models.FloatField(default=0)
    replies = models.IntegerField(default=0)
    reply_seconds = models.FloatField(default=0)
    transfers_out = models.IntegerField(default=0)
    transfers_in = models.IntegerField(default=0)
    holds = models.IntegerField(default=0)
    hold_seconds = models.FloatField(default=0)
    talk_seconds = models.FloatField(default=0)
    wrapups = models.IntegerField(default=0)
    wrapup_seconds = models.FloatField(default=0)
    handled = models.IntegerField(default=0)
    handle_seconds = models.FloatField(default=0)
    chat_handle_seconds = models.FloatField(default=0)
    resolved = models.IntegerField(default=0)
    reopened = models.IntegerField(default=0)
    surveys_sent = models.IntegerField(default=0)
    surveys_answered = models.IntegerField(default=0)
    csat_answers = models.IntegerField(default=0)
    csat_satisfied = models.IntegerField(default=0)
    nps_answers = models.IntegerField(default=0)
    nps_promoters = models.IntegerField(default=0)
    nps_detractors = models.IntegerField(default=0)
    ces_answers = models.IntegerField(default=0)
    ces_total = models.IntegerField(default=0)
    ces_easy = models.IntegerField(default=0)
    callbacks_requested = models.IntegerField(default=0)
    callbacks_completed = models.IntegerField(default=0)
    staffed_seconds = models.FloatField(default=0)
    chat_slot_seconds = models.FloatField(default=0)
    resolutions_repeated = models.IntegerField(default=0)
    cases = models.IntegerField(default=0)
    cases_attrited = models.IntegerField(default=0)

    class Meta:
        abstract = True


class IntervalStat(Counters):
    """Summed counters for one 15-minute bucket × queue × channel kind × intent × agent (0 = none)."""

    bucket = models.DateTimeField(_("15-minute interval"))
    queue_id = models.IntegerField(_("queue"), default=0)
    channel_kind = models.CharField(_("channel kind"), max_length=16, default="", blank=True)
    intent_id = models.IntegerField(_("intent"), default=0)
    agent_id = models.IntegerField(_("agent"), default=0)

    class Meta:
        verbose_name = _("interval statistic")
        verbose_name_plural = _("interval statistics")
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "queue_id", "channel_kind", "intent_id", "agent_id"], name="interval_stat_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} q{self.queue_id} {self.channel_kind}"


class DailyStat(Counters):
    """The same counters summed per UTC day (written with every 15-minute row, reporting.rollups): a long range reads
    its whole UTC days here and only its two partial days from IntervalStat (reporting.kpis), ~100× fewer rows."""

    day = models.DateField(_("UTC day"))
    queue_id = models.IntegerField(_("queue"), default=0)
    channel_kind = models.CharField(_("channel kind"), max_length=16, default="", blank=True)
    intent_id = models.IntegerField(_("intent"), default=0)
    agent_id = models.IntegerField(_("agent"), default=0)

    class Meta:
        verbose_name = _("daily statistic")
        verbose_name_plural = _("daily statistics")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "queue_id", "channel_kind", "intent_id", "agent_id"], name="daily_stat_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} q{self.queue_id} {self.channel_kind}"


class RepeatedResolution(models.Model):
    """A resolution followed by a contact of its customer within the FCR window: marked once (the primary key), so
    that its rollup row's `resolutions_repeated` is incremented exactly once, whichever event arrived first."""

    resolution_id = models.BigIntegerField(_("resolution event"), primary_key=True)

    class Meta:
        verbose_name = _("repeated resolution")
        verbose_name_plural = _("repeated resolutions")

    def __str__(self) -> str:
        return str(self.resolution_id)


class ReportingCase(models.Model):
    """A case for channel attrition: a conversation from its first offer to a queue to its first resolution after
    it. `bucket` … `agent_id` are the rollup key of that first offer, where `cases` / `cases_attrited` are counted."""

    conversation_id = models.BigIntegerField(_("conversation"), primary_key=True)
    customer_id = models.BigIntegerField(_("customer"), null=True, blank=True)
    channel_kind = models.CharField(_("channel kind"), max_length=16, blank=True)
    offered_at = models.DateTimeField(_("first offered at"))
    resolved_at = models.DateTimeField(_("first resolved at"), null=True, blank=True)
    attrited = models.BooleanField(_("used a second channel"), default=False)
    bucket = models.DateTimeField(_("15-minute interval"))
    queue_id = models.IntegerField(_("queue"), default=0)
    intent_id = models.IntegerField(_("intent"), default=0)
    agent_id = models.IntegerField(_("agent"), default=0)

    class Meta:
        verbose_name = _("reporting case")
        verbose_name_plural = _("reporting cases")
        indexes = [models.Index(fields=["customer_id", "offered_at"], name="reporting_case_customer")]

    def __str__(self) -> str:
        return str(self.conversation_id)


class AbandonTreatment(models.TextChoices):
    AGAINST = "against", _("Counted against")
    IGNORED = "ignored", _("Ignored")
    IN_FAVOUR = "in_favour", _("Counted in favour")


class QueueReportingSettings(models.Model):
    """A queue's KPI definitions. Lives here, one-to-one, because routing.Queue belongs to routing."""

    queue = models.OneToOneField(
        "routing.Queue", on_delete=models.CASCADE, related_name="reporting_settings", verbose_name=_("queue")
    )
    service_level_seconds = models.PositiveIntegerField(_("service level target (s)"), default=20)
    service_level_goal = models.FloatField(_("service level goal (fraction)"), default=0.8)
    short_abandon_seconds = models.PositiveIntegerField(_("short abandon under (s)"), default=5)
    abandon_treatment = models.CharField(
        _("abandons in service level"),
        max_length=12,
        choices=AbandonTreatment.choices,
        default=AbandonTreatment.AGAINST,
    )
    longest_wait_alert_seconds = models.PositiveIntegerField(_("longest wait alert (s)"), default=120)
    surveys_enabled = models.BooleanField(_("send surveys"), default=False)
    survey_cooldown_days = models.PositiveIntegerField(_("survey cool-down (days)"), default=30)
    survey_nps = models.BooleanField(_("ask NPS"), default=False)
    survey_ces = models.BooleanField(_("ask CES"), default=False)

    class Meta:
        verbose_name = _("queue reporting settings")
        verbose_name_plural = _("queue reporting settings")

    def __str__(self) -> str:
        return str(self.queue_id)


class Survey(models.Model):
    """One survey sent after a resolution; answered at most once."""

    conversation = models.ForeignKey(
        "interactions.Conversation", on_delete=models.CASCADE, related_name="surveys", verbose_name=_("conversation")
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="surveys", verbose_name=_("customer")
    )
    channel = models.ForeignKey(
        "interactions.Channel", on_delete=models.CASCADE, related_name="+", verbose_name=_("channel")
    )
    agent_id = models.IntegerField(_("agent"), null=True, blank=True)
    ask_nps = models.BooleanField(default=False)
    ask_ces = models.BooleanField(default=False)
    sent_at = models.DateTimeField(_("sent at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    csat = models.SmallIntegerField(_("CSAT (1–5)"), null=True, blank=True)
    nps = models.SmallIntegerField(_("NPS (0–10)"), null=True, blank=True)
    ces = models.SmallIntegerField(_("CES (1–7)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        indexes = [models.Index(fields=["customer", "sent_at"], name="survey_customer_sent")]

    def __str__(self) -> str:
        return f"survey {self.pk}"
