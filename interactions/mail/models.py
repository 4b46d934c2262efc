"""What the email channel remembers beside the shared tables: mailbox positions, Message-IDs, acknowledgements."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class MailboxState(models.Model):
    """Where IMAP polling of a channel's mailbox stands: UIDs are only comparable within one UIDVALIDITY."""

    channel = models.OneToOneField("interactions.Channel", on_delete=models.CASCADE, related_name="mailbox_state")
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True, blank=True)
    # The highest UID whose message is stored (committed) as an InboundEvent.
    last_uid = models.BigIntegerField(_("last stored UID"), default=0)
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("mailbox state")
        verbose_name_plural = _("mailbox states")

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.uidvalidity}/{self.last_uid}"


class MessageReference(models.Model):
    """A Message-ID we received or sent, and the conversation it belongs to: what In-Reply-To/References thread on."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    message_id = models.CharField(_("Message-ID"), max_length=255, db_index=True)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    conversation = models.ForeignKey(
        "interactions.Conversation", on_delete=models.CASCADE, related_name="mail_references"
    )
    interaction = models.ForeignKey(
        "interactions.Interaction", on_delete=models.CASCADE, related_name="mail_references"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("message reference")
        verbose_name_plural = _("message references")
        constraints = [
            models.UniqueConstraint(fields=["interaction", "message_id"], name="mail_reference_unique"),
        ]

    def __str__(self) -> str:
        return self.message_id


class Acknowledgement(models.Model):
    """An automatic acknowledgement sent to an address: the per-sender rate limit counts these."""

    channel = models.ForeignKey("interactions.Channel", on_delete=models.CASCADE, related_name="mail_acknowledgements")
    address = models.CharField(_("address"), max_length=320)
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)

    class Meta:
        verbose_name = _("acknowledgement")
        verbose_name_plural = _("acknowledgements")
        indexes = [models.Index(fields=["channel", "address", "sent_at"], name="mail_ack_recent")]

    def __str__(self) -> str:
        return f"{self.address} @ {self.sent_at}"


class WebhookToken(models.Model):
    """A provider webhook's signed token, once used: a signature replayed with its token is refused.

    Rows older than twice the accepted signature age are pruned (a token that old fails the timestamp check anyway).
    """

    channel = models.ForeignKey("interactions.Channel", on_delete=models.CASCADE, related_name="mail_webhook_tokens")
    token = models.CharField(_("token"), max_length=256)
    external_id = models.CharField(_("external id"), max_length=200, blank=True)
    used_at = models.DateTimeField(_("used at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("webhook token")
        verbose_name_plural = _("webhook tokens")
        constraints = [models.UniqueConstraint(fields=["channel", "token"], name="mail_webhook_token_unique")]

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.token}"
