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


class CannedResponse(models.Model):
    """A saved answer, with `{{variables}}` filled in at insertion. One row per language of the same `shortcut`."""

    class Scope(models.TextChoices):
        PERSONAL = "personal", _("Personal")
        QUEUE = "queue", _("Queue")
        GLOBAL = "global", _("Everyone")

    shortcut = models.SlugField(_("shortcut"), max_length=50)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"))
    # "" is the version for any language; "fr", "en"… are picked by the customer's language.
    language = models.CharField(_("language"), max_length=16, blank=True)
    scope = models.CharField(_("scope"), max_length=16, choices=Scope.choices, default=Scope.PERSONAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="canned_responses"
    )
    queue = models.ForeignKey(
        "routing.Queue", on_delete=models.CASCADE, null=True, blank=True, related_name="canned_responses"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "owner", "queue", "shortcut", "language"],
                name="canned_unique_version",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} ({self.language or '*'})"


class SuggestionFeedback(models.Model):
    """An agent applied or dismissed a next-best-action suggestion: counted per intent to rank the next ones."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("Applied")
        DISMISSED = "dismissed", _("Dismissed")

    conversation = models.ForeignKey(
        "interactions.Conversation", on_delete=models.CASCADE, related_name="suggestion_feedback"
    )
    # The conversation's intent when the agent answered (kept if the conversation's intent is corrected later).
    intent = models.ForeignKey(
        "routing.Intent", on_delete=models.SET_NULL, null=True, blank=True, related_name="suggestion_feedback"
    )
    # The suggestion's stable key: "canned:<shortcut>", "self_service", "callback", "open_case", "last_note".
    key = models.CharField(_("suggestion"), max_length=120)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suggestion_feedback")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("suggestion feedback")
        verbose_name_plural = _("suggestion feedback")
        # One answer per agent, conversation and suggestion: a second click changes it, never counts twice.
        constraints = [models.UniqueConstraint(fields=["conversation", "user", "key"], name="suggestion_feedback_once")]
        indexes = [models.Index(fields=["intent", "key"], name="suggestion_feedback_intent")]

    def __str__(self) -> str:
        return f"{self.key} {self.outcome} on #{self.conversation_id}"
