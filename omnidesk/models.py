from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.Model):
    """The realtime log: every pushed frame is first a row, so a reconnecting client can replay what it missed."""

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(_("type"), max_length=64)
    data = models.JSONField(_("data"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("realtime event")
        verbose_name_plural = _("realtime events")

    def __str__(self) -> str:
        return f"#{self.id} {self.type}"


class EventAudience(models.Model):
    """One realtime group an event was sent to; replay selects by the groups a user may join."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="audience")
    group = models.CharField(max_length=100)

    class Meta:
        indexes = [models.Index(fields=["group", "event"], name="eventaudience_group_event")]
        constraints = [models.UniqueConstraint(fields=["event", "group"], name="eventaudience_unique")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.group}"
