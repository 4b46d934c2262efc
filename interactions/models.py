import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, F, When
from django.db.models.functions import Least
from django.utils.translation import gettext_lazy as _


def new_public_key() -> str:
    return secrets.token_urlsafe(18)


def new_identity_secret() -> str:
    return secrets.token_hex(32)


class Channel(models.Model):
    """A configured endpoint through which customers reach us (a website widget, a mailbox, a number…)."""

    class Kind(models.TextChoices):
        CHAT = "chat", _("Website chat")
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")
        WHATSAPP = "whatsapp", _("WhatsApp")
        MESSENGER = "messenger", _("Messenger")
        INSTAGRAM = "instagram", _("Instagram")
        TELEGRAM = "telegram", _("Telegram")
        VOICE = "voice", _("Phone")
        API = "api", _("API")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100)
    # Public by design: it sits in the embed snippet of a website. Secrets never go here.
    public_key = models.CharField(_("public key"), max_length=64, unique=True, default=new_public_key)
    allowed_origins = models.JSONField(
        _("allowed origins"),
        default=list,
        blank=True,
        help_text=_('Website origins allowed to embed the widget, e.g. ["https://www.example.com"].'),
    )
    # Shared with the website's server only: it signs the email of a logged-in user (HMAC-SHA256, hex) so that the
    # widget may link the visitor to the existing customer with that email. Never sent to browsers.
    identity_secret = models.CharField(_("identity secret"), max_length=64, default=new_identity_secret)
    queue = models.ForeignKey("routing.Queue", on_delete=models.PROTECT, related_name="channels")
    # Names the channel in its webhook URL (/hooks/<provider>/<uuid>/): unguessable, but not a secret.
    uuid = models.UUIDField(_("webhook id"), default=uuid.uuid4, unique=True, editable=False)
    # Non-secret, provider-specific configuration (provider name, account ids, addresses, polling interval…).
    config = models.JSONField(_("configuration"), default=dict, blank=True)
    # Write-only credentials (API tokens, app secrets, signing keys): never rendered back, never logged.
    secrets = models.JSONField(_("secrets"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def allows_origin(self, origin: str | None) -> bool:
        allowed = [o.rstrip("/").lower() for o in self.allowed_origins or []]
        return "*" in allowed or (origin is not None and origin.rstrip("/").lower() in allowed)


# The earliest SLA due time of a case: the first response (until it is given), the next response, the resolution.
# LEAST ignores NULLs on PostgreSQL. reporting/wallboard_reads.py spells the same expression in SQL to use the index.
SLA_NEXT_DUE = Least(
    Case(When(first_response_at__isnull=True, then=F("first_response_due_at"))),
    F("next_response_due_at"),
    F("resolution_due_at"),
)


class Conversation(models.Model):
    """The case: one customer's request, which may span several channels."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="conversations")
    # A case belongs to its customer, not to a channel: every Interaction keeps its own channel. This is the case's
    # *reply channel*: the one it was opened on, then the last one the customer wrote in on that we can answer on (a
    # call never moves it). Replies default to it; the agent may pick another (interactions/cases.py).
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    queue = models.ForeignKey(
        "routing.Queue", on_delete=models.PROTECT, related_name="conversations", null=True, blank=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    priority = models.SmallIntegerField(_("priority"), default=0)
    snoozed_until = models.DateTimeField(_("snoozed until"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # SLA clocks (business time of the queue's calendar). Pending and snoozed pause them: `sla_paused_at` is when the
    # pause began, and resuming pushes every due time back by the business time spent paused.
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    next_response_due_at = models.DateTimeField(_("next response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    sla_warned_at = models.DateTimeField(null=True, blank=True)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["queue", "status", "assignee", "queued_at"], name="conversation_waiting"),
            models.Index(fields=["assignee", "status"], name="conversation_assignee_status"),
            # The continuity rule looks a customer's cases up by customer and status, on any channel.
            models.Index(fields=["customer", "status", "last_message_at"], name="conversation_customer_case"),
            # "SLA at risk" (the wallboard, every second): the earliest due time of an open case, per queue, so the
            # count is a range scan of the cases due before the horizon, not a read of every open case.
            models.Index(
                "queue",
                SLA_NEXT_DUE,
                name="conversation_sla_next_due",
                condition=~models.Q(status="resolved"),
            ),
            models.Index(
                fields=["queue"],
                name="conversation_sla_flagged",
                condition=~models.Q(status="resolved")
                & (models.Q(sla_warned_at__isnull=False) | models.Q(sla_breached_at__isnull=False)),
            ),
        ]

    def __str__(self) -> str:
        return _("Conversation #%(id)s") % {"id": self.pk}


class Interaction(models.Model):
    """One entry of the customer's unified timeline."""

    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        CALL = "call", _("Call")
        NOTE = "note", _("Internal note")
        SYSTEM = "system", _("System")

    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    class Status(models.TextChoices):
        """Delivery of an outbound entry; inbound entries stay at RECEIVED. Only ever moves forward (see RANK)."""

        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="interactions")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="interactions")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="interactions")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MESSAGE)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="interactions"
    )
    text = models.TextField(_("text"), blank=True)
    # Sanitized (nh3) HTML of rich messages such as email; `text` always holds the plain-text version.
    html = models.TextField(_("HTML"), blank=True)
    # Channel-specific facts (email headers and Message-IDs, media metadata, call timings, reply-to ids…).
    meta = models.JSONField(_("details"), default=dict, blank=True)
    status = models.CharField(_("delivery status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    status_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    # Why delivery or parsing went wrong, shown on the interaction.
    error = models.TextField(_("error"), blank=True)
    # Set once per outbound send: a retried task finds the provider's answer instead of sending twice.
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True, unique=True)
    # The provider's id (the widget's client uuid for chat): a redelivered message can never be stored twice.
    # NULL, not "", for entries without one (agent replies, notes): NULLs never collide in the unique constraint.
    external_id = models.CharField(_("external id"), max_length=200, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="interaction_unique_external_id"),
        ]
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="interaction_timeline")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.get_kind_display()} #{self.pk}"


STATUS_RANK = {
    Interaction.Status.RECEIVED: 0,
    Interaction.Status.QUEUED: 1,
    Interaction.Status.SENT: 2,
    Interaction.Status.DELIVERED: 3,
    Interaction.Status.READ: 4,
    Interaction.Status.FAILED: 5,
}


def attachment_path(instance: "Attachment", filename: str) -> str:
    return f"attachments/{instance.interaction_id}/{uuid.uuid4().hex}/{filename}"


class Attachment(models.Model):
    """A file that came with (or went out with) an interaction; metadata always, the file when within limits."""

    interaction = models.ForeignKey(Interaction, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    file = models.FileField(_("file"), upload_to=attachment_path, blank=True)
    # For inline images (email cid:, provider media ids) and for files fetched later from a provider.
    content_id = models.CharField(_("content id"), max_length=255, blank=True)
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    # Why the file is not stored (too large, fetch failed…); the metadata stays.
    omitted_reason = models.CharField(_("omitted because"), max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename


class InboundEvent(models.Model):
    """A raw inbound payload, stored before it is acknowledged and processed at least once, idempotently."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="inbound_events")
    # Which adapter reads the payload when a channel kind has several providers (WhatsApp via Twilio or Meta…).
    provider = models.CharField(_("provider"), max_length=32, blank=True)
    external_id = models.CharField(_("external id"), max_length=200)
    payload = models.JSONField(_("payload"))
    received_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    dead_lettered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        constraints = [models.UniqueConstraint(fields=["channel", "external_id"], name="inboundevent_unique")]
        indexes = [
            models.Index(
                fields=["received_at"],
                name="inboundevent_pending",
                condition=models.Q(processed_at__isnull=True, dead_lettered_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_id}"


class CaseChange(models.Model):
    """An agent split a message off into a new case, or merged two cases: what moved, so undo is exact."""

    class Kind(models.TextChoices):
        SPLIT = "split", _("Split")
        MERGE = "merge", _("Merge")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    # Entries moved from `source` to `target`; undo moves exactly these back.
    source = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    interaction_ids = models.JSONField(default=list)
    # How `source` stood before a merge resolved it, so undo puts it back as it was: status, agent, reply channel.
    previous_status = models.CharField(max_length=16, blank=True)
    previous_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("case change")
        verbose_name_plural = _("case changes")

    def __str__(self) -> str:
        return f"{self.kind} #{self.source_id} → #{self.target_id}"
