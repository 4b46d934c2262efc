from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Mention(models.Model):
    """An agent named with @username in an internal note: shown live and in their "Mentions" list."""

    note = models.ForeignKey("interactions.Interaction", on_delete=models.CASCADE, related_name="mentions")
    conversation = models.ForeignKey("interactions.Conversation", on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="mentions_made"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("mention")
        verbose_name_plural = _("mentions")
        constraints = [models.UniqueConstraint(fields=["note", "user"], name="mention_once_per_note")]
        indexes = [models.Index(fields=["user", "-created_at"], name="mention_inbox")]

    def __str__(self) -> str:
        return f"@{self.user_id} in #{self.note_id}"
