from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Queue(models.Model):
    """Where conversations wait for an agent; its members are the agents who may take and see them."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="queues", blank=True)
    # Business hours: SLA clocks count only open time. `business_hours` maps weekday numbers ("0" = Monday … "6")
    # to lists of ["HH:MM", "HH:MM"] intervals in `timezone`; empty means open around the clock.
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    holidays = models.JSONField(_("holidays"), default=list, blank=True, help_text=_('Dates, e.g. ["2026-12-25"].'))
    # SLA targets in business minutes; empty means no target of that kind.
    sla_first_response_minutes = models.PositiveIntegerField(_("first response target (min)"), null=True, blank=True)
    sla_next_response_minutes = models.PositiveIntegerField(_("next response target (min)"), null=True, blank=True)
    sla_resolution_minutes = models.PositiveIntegerField(_("resolution target (min)"), null=True, blank=True)
    # A warning goes out when this share of a target's time is used.
    sla_warning_percent = models.PositiveSmallIntegerField(_("warn at (% of target)"), default=80)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    class Presence(models.TextChoices):
        AVAILABLE = "available", _("Available")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    class Role(models.TextChoices):
        AGENT = "agent", _("Agent")
        SUPERVISOR = "supervisor", _("Supervisor")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.AGENT)
    presence = models.CharField(_("presence"), max_length=16, choices=Presence.choices, default=Presence.OFFLINE)
    chat_capacity = models.PositiveSmallIntegerField(_("chat capacity"), default=3)
    presence_changed_at = models.DateTimeField(auto_now_add=True)
    # Ties between equally loaded agents go to whoever waited longest for work.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")

    def __str__(self) -> str:
        return f"{self.user} ({self.presence})"

    @property
    def is_supervisor(self) -> bool:
        return self.role == self.Role.SUPERVISOR
