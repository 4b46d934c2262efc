"""GDPR: a customer's right of access (export everything about them) and right to erasure.

Erasure keeps the rows (customer, conversations, interactions) so that aggregate counts and reports stay right, but
blanks every column that holds personal data, wherever it was copied: the customer's profile, identities (deleted),
interaction texts, the raw inbound payloads, the realtime push log, merge audit trails, admin log entries and the
CSV imports that carried the person's row.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import csv_io
from customers.models import Customer, CustomerImport, ErasureRecord, Identity, MergeRecord
from interactions.access import is_supervisor
from interactions.models import Conversation, InboundEvent, Interaction
from omnidesk import realtime
from omnidesk.models import Event

EXPORT_FORMAT_VERSION = 1


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def export_customer_data(*, customer: Customer, by: Any) -> dict[str, Any]:
    """Everything stored about `customer`, as JSON-serializable data (the GDPR right of access).

    Holds the profile, identities, conversations, every interaction with its text, and the merge records involving
    the customer. Only supervisors may (PermissionDenied otherwise); whether `by` may see this customer at all is
    the caller's permission-scoped lookup.
    """
    if not is_supervisor(by):
        raise PermissionDenied(_("Only supervisors may export a customer's personal data."))
    organization = customer.organization
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "exported_by": by.get_username() if by is not None and by.is_authenticated else None,
        "profile": {
            "id": customer.pk,
            "display_name": customer.display_name,
            "language": customer.language,
            "organization": organization.name if organization else None,
            "segment": customer.segment,
            "value_tier": customer.value_tier,
            "attributes": customer.attributes,
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
            "merged_into": customer.merged_into_id,
            "erased_at": _iso(customer.erased_at),
        },
        "identities": [
            {"kind": i.kind, "address": i.address, "verified": i.verified, "created_at": _iso(i.created_at)}
            for i in customer.identities.order_by("kind", "address")
        ],
        "conversations": [
            {
                "id": c.pk,
                "channel": c.channel.get_kind_display(),
                "status": c.status,
                "created_at": _iso(c.created_at),
                "resolved_at": _iso(c.resolved_at),
            }
            for c in Conversation.objects.filter(customer=customer).select_related("channel").order_by("pk")
        ],
        "interactions": [
            {
                "id": i.pk,
                "conversation_id": i.conversation_id,
                "channel": i.channel.get_kind_display(),
                "kind": i.kind,
                "direction": i.direction,
                "text": i.text,
                "created_at": _iso(i.created_at),
            }
            for i in Interaction.objects.filter(customer=customer).select_related("channel").order_by("pk")
        ],
        "merge_records": [
            {
                "id": r.pk,
                "source_id": r.source_id,
                "target_id": r.target_id,
                "merged_at": _iso(r.merged_at),
                "unmerged_at": _iso(r.unmerged_at),
            }
            for r in MergeRecord.objects.filter(Q(source=customer) | Q(target=customer)).order_by("pk")
        ],
    }


def _same_person(customer: Customer) -> list[int]:
    """`customer` and every customer merged into them, directly or through a chain of merges: one person's rows."""
    pks = [customer.pk]
    frontier = [customer.pk]
    while frontier:
        frontier = list(Customer.objects.filter(merged_into_id__in=frontier).values_list("pk", flat=True))
        frontier = [pk for pk in frontier if pk not in pks]
        pks += frontier
    return pks


def _scrub_imports(*, emails: set[str], phones: set[str]) -> None:
    """Blank, in stored CSV imports, the rows carrying one of the person's addresses (line numbers are kept).

    Phones are written in any format in a CSV file, so no SQL filter can preselect the imports: supervisors' uploads
    are few, each is read once here.
    """
    if not (emails or phones):
        return
    for customer_import in CustomerImport.objects.select_for_update().only("pk", "content", "errors"):
        content = csv_io.blank_rows_of(customer_import.content, emails=emails, phones=phones)
        if content != customer_import.content:
            customer_import.content = content
            customer_import.errors = []
            customer_import.save(update_fields=["content", "errors"])


def erase_customer(*, customer: Customer, by: Any) -> ErasureRecord:
    """Erase the customer's personal data and return the audit record (the GDPR right to erasure).

    Only supervisors may (PermissionDenied otherwise). In one transaction, for the customer and every customer
    merged into them: display name, segment and attributes are blanked, identities deleted, interaction texts
    emptied, the raw inbound payloads of their messages emptied, the realtime events about their conversations
    deleted, the personal values of the merge records' undo data dropped, CSV import rows with their addresses
    blanked. Conversations and interactions stay as rows, so aggregate counts do not change. The ErasureRecord
    counts what there was before erasing and holds no personal data. ValidationError with code "merged" for a
    customer merged into another one (erase the surviving customer, which erases this one too).
    """
    if not is_supervisor(by):
        raise PermissionDenied(_("Only supervisors may erase a customer's personal data."))
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.merged_into_id is not None:
            # Their identities and messages now belong to the surviving customer: erasing this row would miss them.
            raise ValidationError(
                _("This customer was merged into another one; erase the surviving customer."), code="merged"
            )
        pks = _same_person(locked)
        identities = Identity.objects.filter(customer_id__in=pks)
        addresses = list(identities.values_list("kind", "address"))
        interactions = Interaction.objects.filter(customer_id__in=pks)
        conversation_ids = list(Conversation.objects.filter(customer_id__in=pks).values_list("pk", flat=True))
        counts = {
            "identities": len(addresses),
            "interactions": interactions.count(),
            "conversations": len(conversation_ids),
        }

        # Raw payloads of the person's messages: by the provider's id of each stored message, and for the widget by
        # visitor id (which also catches messages that never became an interaction, e.g. dead-lettered ones).
        widget_ids = [address for kind, address in addresses if kind == Identity.Kind.WIDGET]
        external = interactions.exclude(external_id__isnull=True).values_list("channel_id", "external_id")
        by_external_id = Q(pk__in=[])
        for channel_id, external_id in external:
            by_external_id |= Q(channel_id=channel_id, external_id=external_id)
        InboundEvent.objects.filter(by_external_id | Q(payload__visitor__in=widget_ids)).update(
            payload={}, last_error=""
        )

        # The realtime log is a short-lived replay buffer: deleting the person's frames loses nothing that matters.
        Event.objects.filter(
            Q(data__conversation_id__in=conversation_ids)
            | Q(data__conversation__id__in=conversation_ids)
            | Q(audience__group__in=[realtime.visitor_group(v) for v in widget_ids])
        ).delete()

        interactions.update(text="")
        identities.delete()

        # Merge audit trails keep which rows moved (ids only) but not the copied names and attributes.
        merges = MergeRecord.objects.select_for_update().filter(Q(source_id__in=pks) | Q(target_id__in=pks))
        for merge_record in merges:
            merge_record.moved = {**merge_record.moved, "target_before": {}, "copied": {}, "added_attributes": {}}
            merge_record.save(update_fields=["moved"])

        customer_type = ContentType.objects.get_for_model(Customer)
        for pk in pks:
            LogEntry.objects.filter(content_type=customer_type, object_id=str(pk)).update(
                object_repr=f"#{pk}", change_message=""
            )

        _scrub_imports(
            emails={address for kind, address in addresses if kind == Identity.Kind.EMAIL},
            phones={address for kind, address in addresses if kind in (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)},
        )

        now = timezone.now()
        Customer.objects.filter(pk__in=pks).update(
            display_name="", segment="", attributes={}, erased_at=now, updated_at=now
        )
        record = ErasureRecord.objects.create(customer=locked, erased_by=by, erased_at=now, counts=counts)
    customer.refresh_from_db()
    return record
