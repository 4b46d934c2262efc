"""The contact page's referential (category → intent tree, versioned solution scenarios) and its funnel."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ContactSite(models.Model):
    """A website's contact page: keyed by its chat channel's public key (the widget's site key)."""

    chat_channel = models.OneToOneField(
        "interactions.Channel", on_delete=models.CASCADE, related_name="contact_site", verbose_name=_("chat channel")
    )
    voice_channel = models.ForeignKey(
        "interactions.Channel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    email_channel = models.ForeignKey(
        "interactions.Channel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    slot_minutes = models.PositiveSmallIntegerField(_("callback slot length (min)"), default=30)
    slot_capacity = models.PositiveSmallIntegerField(_("callbacks per slot"), default=2)
    # A slot must start at least this long after the booking: the team needs notice to plan the call.
    booking_lead_minutes = models.PositiveSmallIntegerField(_("book at least (min) ahead"), default=2)

    class Meta:
        verbose_name = _("contact site")
        verbose_name_plural = _("contact sites")

    def __str__(self) -> str:
        return str(self.chat_channel)

    @property
    def key(self) -> str:
        return str(self.chat_channel.public_key)


class IntentNode(models.Model):
    """One entry of a site's ordered tree: a category, or an intent (linked to the routing referential)."""

    site = models.ForeignKey(ContactSite, on_delete=models.CASCADE, related_name="nodes")
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="children")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    intent = models.ForeignKey(
        "routing.Intent", on_delete=models.PROTECT, null=True, blank=True, related_name="contact_nodes"
    )
    icon = models.CharField(_("icon"), max_length=16, blank=True)
    label_en = models.CharField(_("label (English)"), max_length=120)
    label_fr = models.CharField(_("label (French)"), max_length=120)
    description_en = models.CharField(_("description (English)"), max_length=300, blank=True)
    description_fr = models.CharField(_("description (French)"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("contact intent")
        verbose_name_plural = _("contact intents")
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["site", "intent"], name="contact_node_one_per_intent")]

    def __str__(self) -> str:
        return self.label_en

    @property
    def is_category(self) -> bool:
        return self.intent_id is None

    def label(self, language: str) -> str:
        return self.label_fr if language == "fr" and self.label_fr else self.label_en

    def description(self, language: str) -> str:
        return self.description_fr if language == "fr" and self.description_fr else self.description_en


class ScenarioVersion(models.Model):
    """An immutable version of an intent's scenario (inline answer + solutions in order), for one variant.

    Editing makes a new row and retires the previous one of that variant: funnel events keep pointing at the version
    the visitor saw, so a change never alters past funnels. `solutions` is a list of dicts validated by
    contact.scenarios.clean_solutions.
    """

    node = models.ForeignKey(IntentNode, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    variant = models.SlugField(_("variant"), max_length=16, default="A")
    weight = models.PositiveSmallIntegerField(_("weight"), default=1)
    answer_en = models.TextField(_("inline answer (English)"), blank=True)
    answer_fr = models.TextField(_("inline answer (French)"), blank=True)
    solutions = models.JSONField(_("solutions"), default=list)
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("scenario version")
        verbose_name_plural = _("scenario versions")
        constraints = [
            models.UniqueConstraint(fields=["node", "number"], name="contact_scenario_number"),
            models.UniqueConstraint(
                fields=["node", "variant"], condition=models.Q(is_current=True), name="contact_scenario_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node} v{self.number} ({self.variant})"

    @property
    def solutions_json(self) -> str:
        return json.dumps(self.solutions, indent=1)

    def answer(self, language: str) -> str:
        return self.answer_fr if language == "fr" and self.answer_fr else self.answer_en


class Visit(models.Model):
    """One anonymous visit of a contact page (the visit id is random, made by the server)."""

    visit_id = models.CharField(max_length=40, unique=True)
    site = models.ForeignKey(ContactSite, on_delete=models.CASCADE, related_name="visits")
    address = models.GenericIPAddressField(null=True, blank=True)
    language = models.CharField(max_length=8, default="en")
    device = models.CharField(max_length=16, default="desktop")
    customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("contact visit")
        verbose_name_plural = _("contact visits")
        indexes = [models.Index(fields=["address", "created_at"], name="contact_visit_address")]

    def __str__(self) -> str:
        return self.visit_id


class FunnelEvent(models.Model):
    class Step(models.TextChoices):
        PAGE_VIEW = "page_view", _("Page viewed")
        INTENT_CHOSEN = "intent_chosen", _("Intent chosen")
        ANSWER_SHOWN = "answer_shown", _("Answer shown")
        HELPFUL_YES = "helpful_yes", _("Answer helped")
        HELPFUL_NO = "helpful_no", _("Answer did not help")
        SOLUTIONS_OFFERED = "solutions_offered", _("Solutions offered")
        SOLUTION_CHOSEN = "solution_chosen", _("Solution chosen")
        CONTACT_CREATED = "contact_created", _("Contact created")
        RESOLVED = "resolved", _("Resolved")
        ABANDONED = "abandoned", _("Abandoned")

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="events")
    step = models.CharField(max_length=20, choices=Step.choices)
    node = models.ForeignKey(IntentNode, on_delete=models.SET_NULL, null=True, related_name="+")
    version = models.ForeignKey(ScenarioVersion, on_delete=models.SET_NULL, null=True, related_name="+")
    variant = models.CharField(max_length=16, blank=True)
    solution = models.CharField(max_length=16, blank=True)
    data = models.JSONField(default=dict, blank=True)
    conversation = models.ForeignKey(
        "interactions.Conversation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    callback = models.ForeignKey("phone.Callback", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("funnel event")
        verbose_name_plural = _("funnel events")
        indexes = [models.Index(fields=["node", "step", "variant"], name="contact_funnel_node_step")]
        constraints = [
            # One event per step and intent within a visit: a resent beacon or a double click stores nothing twice.
            models.UniqueConstraint(fields=["visit", "step", "node"], name="contact_funnel_once", nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return f"{self.visit_id}: {self.step}"


class ChatHandoff(models.Model):
    """The intent a visitor chose before the widget opened: applied to their first conversation's intent."""

    visitor_id = models.CharField(max_length=100, db_index=True)
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(IntentNode, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("chat handoff")
        verbose_name_plural = _("chat handoffs")

    def __str__(self) -> str:
        return f"{self.visitor_id} → {self.node_id}"
