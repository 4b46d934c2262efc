from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CustomerQuerySet(models.QuerySet["Customer"]):
    def unmerged(self) -> CustomerQuerySet:
        """Customers in normal use: a merged-away customer only stays as a row for unmerge and audit."""
        return self.filter(merged_into__isnull=True)


class Organization(models.Model):
    """The company a customer belongs to (B2B accounts)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    domain = models.CharField(_("email domain"), max_length=200, blank=True)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """One person, whatever channels they use."""

    class ValueTier(models.TextChoices):
        STANDARD = "standard", _("Standard")
        SILVER = "silver", _("Silver")
        GOLD = "gold", _("Gold")
        VIP = "vip", _("VIP")

    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=16, blank=True)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("organization"),
    )
    segment = models.CharField(_("segment"), max_length=100, blank=True)
    value_tier = models.CharField(_("value tier"), max_length=16, choices=ValueTier.choices, default=ValueTier.STANDARD)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    # Set when the customer's personal data was erased (GDPR): the row stays so that aggregate counts stay right.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_customers",
        verbose_name=_("merged into"),
    )
    merged_at = models.DateTimeField(_("merged at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.display_name or _("Customer #%(id)s") % {"id": self.pk}


class Identity(models.Model):
    """An address at which a customer reaches us; unique per (kind, normalized address)."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        WHATSAPP = "whatsapp", _("WhatsApp")
        MESSENGER = "messenger", _("Messenger")
        INSTAGRAM = "instagram", _("Instagram")
        TELEGRAM = "telegram", _("Telegram")
        WIDGET = "widget", _("Website visitor")
        EXTERNAL = "external", _("External id")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    address = models.CharField(_("address"), max_length=320)
    verified = models.BooleanField(_("verified"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [models.UniqueConstraint(fields=["kind", "address"], name="identity_unique_kind_address")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"


def empty_moved() -> dict[str, Any]:
    return {"rows": {}, "target_before": {}, "copied": {}, "added_attributes": {}}


class MergeRecord(models.Model):
    """The audit trail of one merge, holding everything needed to undo it.

    `moved` is {"rows": {model label: {customer FK field name: [pks moved]}}, "target_before": {field: the target's
    value before}, "copied": {field: the value copied from the source}, "added_attributes": {key: value copied from
    the source's attributes}}.
    """

    source = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="merges_as_source", verbose_name=_("merged customer")
    )
    target = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="merges_as_target", verbose_name=_("surviving customer")
    )
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("merged by"),
    )
    merged_at = models.DateTimeField(_("merged at"))
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("unmerged by"),
    )
    unmerged_at = models.DateTimeField(_("unmerged at"), null=True, blank=True)
    moved = models.JSONField(_("moved"), default=empty_moved, blank=True)

    class Meta:
        verbose_name = _("merge record")
        verbose_name_plural = _("merge records")
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return _("Customer #%(source)s merged into #%(target)s") % {"source": self.source_id, "target": self.target_id}


class ErasureRecord(models.Model):
    """Who erased a customer's personal data, and when; what was counted before erasing. Holds no personal data."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="erasures")
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("erased by")
    )
    erased_at = models.DateTimeField(_("erased at"))
    counts = models.JSONField(_("counts"), default=dict, blank=True)

    class Meta:
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")

    def __str__(self) -> str:
        return _("Customer #%(id)s erased") % {"id": self.customer_id}


class CustomerImport(models.Model):
    """One CSV import: the file as uploaded, and its progress and per-line errors for the supervisor's page."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    content = models.TextField(_("content"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    # [{"line": n, "errors": {"field": ["message", …]}}, …]
    errors = models.JSONField(_("errors"), default=list, blank=True)

    class Meta:
        verbose_name = _("customer import")
        verbose_name_plural = _("customer imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename or _("Import #%(id)s") % {"id": self.pk}
