"""GDPR: a customer's right of access (export everything about them) and right to erasure.

Erasure keeps the rows (customer, conversations, interactions, calls) so that aggregate counts and reports stay
right, but blanks every column that holds personal data, wherever it was copied, and deletes the rows and files that
are nothing but personal data (identities, attachments, mail references, pending receipts, acknowledgements,
realtime frames). customers.gdpr_footprint finds the rows; tests/test_gdpr_sweep.py proves that after erasure no
text, JSON or file of any model (nor any file under MEDIA_ROOT) holds the person's name, email, phone or files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import FileSystemStorage
from django.db import connection, transaction
from django.db.models import Exists, F, Q, TextField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import csv_io, gdpr_export
from customers.gdpr_footprint import Footprint, footprint_of, inbound_events_of, text_contains_any
from customers.models import Customer, CustomerImport, ErasureRecord, Identity, MergeRecord
from interactions.access import is_supervisor
from interactions.mail.models import Acknowledgement, MessageReference
from interactions.mail.services import PROVIDER as EMAIL_PROVIDER
from interactions.messaging.models import PendingReceipt, SignatureRejection
from interactions.models import Attachment, Channel, Conversation, InboundEvent, Interaction
from interactions.phone.models import Call, Callback
from omnidesk import realtime
from omnidesk.celery import registered_task
from omnidesk.models import Event
from routing.models import IntentCorrection, Transfer

logger = logging.getLogger(__name__)

# The task running `vacuum_erased_tables` (customers/tasks.py), enqueued by its name: see `registered_task`.
VACUUM_TASK = "customers.tasks.vacuum_after_erasure"


def export_customer_data(*, customer: Customer, by: Any) -> dict[str, Any]:
    """Everything stored about `customer`, as JSON-serializable data (the GDPR right of access).

    See customers.gdpr_export for the sections. Only supervisors may (PermissionDenied otherwise); whether `by` may
    see this customer at all is the caller's permission-scoped lookup.
    """
    if not is_supervisor(by):
        raise PermissionDenied(_("Only supervisors may export a customer's personal data."))
    return {
        "exported_at": timezone.now().isoformat(),
        "exported_by": by.get_username() if by is not None and by.is_authenticated else None,
        **gdpr_export.export_person(customer),
    }


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


# Keys of `Interaction.meta` that describe the entry without describing the person (enums, durations, ids of our own
# rows): kept so that an erased timeline still renders and reports still add up. Everything else is dropped.
NEUTRAL_META_KEYS = frozenset(
    {
        "direction",
        "state",
        "result",
        "cause",
        "provider",
        "disposition",
        "wait_seconds",
        "talk_seconds",
        "hold_seconds",
        "after_call_work_seconds",
        "callback_event",
        "callback",
        "auto_reply",
    }
)
ERASED = "erased"
BATCH = 500


def neutral_meta(meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        return {ERASED: True}
    scalar = (bool, int, float, str, type(None))
    kept = {
        key: value
        for key, value in meta.items()
        if key in NEUTRAL_META_KEYS and isinstance(value, scalar) and len(str(value)) <= 32
    }
    return {**kept, ERASED: True}


def neutral_id(value: str, footprint: Footprint, *, always: bool = False) -> str:
    """A provider id replaced by a keyed digest when it names the person, or `always` (an email's Message-ID is
    written by the sender's software and may hold their name or host in any form): still unique, and the same for
    the interaction and its inbound event, but no longer personal nor confirmable from a guessed address."""
    if not (always or footprint.mentions(value)) or value.startswith(f"{ERASED}-"):
        return value
    digest = hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{ERASED}-{digest[:40]}"


def _delete_files(names: list[tuple[Any, str]]) -> None:
    """Delete the stored files, and the folders left empty (their names hold the interaction's id, never the file's
    name once the file is gone)."""
    for storage, name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("could not delete the file of an erased attachment")  # its name may hold personal data
            continue
        if isinstance(storage, FileSystemStorage):
            folder = Path(storage.path(name)).parent
            root = Path(storage.location)
            while folder != root and root in folder.parents:
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent


def _erase_attachments(footprint: Footprint) -> int:
    attachments = Attachment.objects.filter(interaction_id__in=footprint.interaction_ids)
    files = [(a.file.storage, a.file.name) for a in attachments if a.file and a.file.name]
    count, _by_model = attachments.delete()
    # After commit: a rolled-back erasure must not lose the files of rows that still exist.
    transaction.on_commit(lambda: _delete_files(files))
    return count


def _erase_interactions(footprint: Footprint) -> None:
    """One UPDATE for the texts, one per distinct neutral details value (most entries share `{"erased": true}`), and
    batched updates for the few provider ids that change: a customer with ten thousand messages costs a few dozen
    statements, not ten thousand."""
    interactions = footprint.interactions()
    interactions.update(text="", html="", error="")
    by_meta: dict[str, list[int]] = {}
    renamed = []
    rows = interactions.only("pk", "meta", "external_id", "channel__kind").select_related("channel")
    for interaction in rows.iterator(chunk_size=BATCH * 4):
        by_meta.setdefault(json.dumps(neutral_meta(interaction.meta), sort_keys=True), []).append(interaction.pk)
        if interaction.external_id:
            email = interaction.channel.kind == Channel.Kind.EMAIL
            external_id = neutral_id(interaction.external_id, footprint, always=email)
            if external_id != interaction.external_id:
                interaction.external_id = external_id
                renamed.append(interaction)
    for meta, pks in by_meta.items():
        Interaction.objects.filter(pk__in=pks).update(meta=json.loads(meta))
    Interaction.objects.bulk_update(renamed, ["external_id"], batch_size=BATCH)
    MessageReference.objects.filter(
        Q(interaction_id__in=footprint.interaction_ids) | Q(conversation_id__in=footprint.conversation_ids)
    ).delete()


def _erase_inbound_events(footprint: Footprint) -> int:
    """Blank the raw payloads; the rows stay as the idempotency guard of their provider ids. Pending ones are
    dead-lettered, so that the worker never processes an emptied payload."""
    events = inbound_events_of(footprint)
    now = timezone.now()
    events.filter(processed_at__isnull=True, dead_lettered_at__isnull=True).update(dead_lettered_at=now)
    count = events.update(payload={}, last_error="")
    renamed = []
    for event in events.only("pk", "external_id", "provider").iterator(chunk_size=BATCH):
        external_id = neutral_id(event.external_id, footprint, always=event.provider == EMAIL_PROVIDER)
        if external_id != event.external_id:
            event.external_id = external_id
            renamed.append(event)
    InboundEvent.objects.bulk_update(renamed, ["external_id"], batch_size=BATCH)
    return count


def _erase_phone_and_routing(footprint: Footprint) -> None:
    for call in footprint.calls().only("pk", "call_id"):
        Call.objects.filter(pk=call.pk).update(
            raw_number="", number="", recording_url="", notes="", call_id=neutral_id(call.call_id, footprint)
        )
    footprint.callbacks().update(number="", note="")
    Transfer.objects.filter(conversation_id__in=footprint.conversation_ids).update(note="")
    IntentCorrection.objects.filter(conversation_id__in=footprint.conversation_ids).update(text="")


def _erase_side_records(footprint: Footprint) -> None:
    """Records outside the customer's foreign keys that copy an address: receipts, acknowledgements, refusals."""
    alias, mentions = text_contains_any("error", footprint.needles)
    PendingReceipt.objects.filter(Exists(footprint.interactions_with_provider_id())).delete()
    PendingReceipt.objects.annotate(**{alias: Cast("error", TextField())}).filter(mentions).delete()
    Acknowledgement.objects.filter(address__in=footprint.emails).delete()
    alias, mentions = text_contains_any("last_reason", footprint.needles)
    SignatureRejection.objects.annotate(**{alias: Cast("last_reason", TextField())}).filter(mentions).update(
        last_reason=""
    )


def _erase_realtime_events(footprint: Footprint) -> None:
    """The realtime log is a short-lived replay buffer: deleting the person's frames loses nothing that matters."""
    alias, mentions = text_contains_any("data", footprint.needles)
    Event.objects.annotate(**{alias: Cast("data", TextField())}).filter(
        mentions
        | Q(data__conversation_id__in=footprint.conversation_ids)
        | Q(data__conversation__id__in=footprint.conversation_ids)
        | Q(data__customer_id__in=footprint.customer_ids)
        | Q(data__customer__id__in=footprint.customer_ids)
        | Q(data__call__id__in=footprint.call_ids)
        | Q(data__call_id__in=footprint.call_ids)
        | Q(data__interaction_id__in=footprint.interaction_ids)
        | Q(audience__group__in=[realtime.visitor_group(v) for v in footprint.widget_ids])
    ).delete()


def _erase_admin_log(footprint: Footprint, identity_ids: list[int]) -> None:
    rows = {
        Customer: footprint.customer_ids,
        Identity: identity_ids,
        Conversation: footprint.conversation_ids,
        Interaction: footprint.interaction_ids,
        Call: footprint.call_ids,
        Callback: footprint.callback_ids,
    }
    for model, pks in rows.items():
        content_type = ContentType.objects.get_for_model(model)
        LogEntry.objects.filter(content_type=content_type, object_id__in=[str(pk) for pk in pks]).update(
            object_repr=Concat(Value("#"), F("object_id")), change_message=""
        )
    alias, mentions = text_contains_any("change_message", footprint.needles)
    LogEntry.objects.annotate(**{alias: Cast("change_message", TextField())}).filter(mentions).update(change_message="")
    alias, mentions = text_contains_any("object_repr", footprint.needles)
    LogEntry.objects.annotate(**{alias: Cast("object_repr", TextField())}).filter(mentions).update(object_repr="")


def erase_customer(*, customer: Customer, by: Any) -> ErasureRecord:
    """Erase the customer's personal data and return the audit record (the GDPR right to erasure).

    Only supervisors may (PermissionDenied otherwise). In one transaction, for the customer and every customer
    merged into them (customers.gdpr_footprint finds the rows): profile blanked and identities deleted; interaction
    texts, HTML, errors and channel details emptied (only neutral keys such as durations stay), provider ids that
    name the person replaced by a digest; attachments deleted with their files (after commit); mail references
    deleted; call numbers, recordings and notes, callback numbers and notes, transfer notes and intent-correction
    texts blanked; raw inbound payloads emptied; pending receipts, acknowledgements and realtime events deleted;
    admin log entries, merge records' undo data and CSV import rows scrubbed. Conversations, interactions and calls
    stay as rows, so aggregate counts do not change. The ErasureRecord counts what there was before erasing and
    holds no personal data. Erasing again is harmless (counts are then zero). ValidationError with code "merged"
    for a customer merged into another one (erase the surviving customer, which erases this one too).
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
        footprint = footprint_of(locked)
        identities = Identity.objects.filter(customer_id__in=footprint.customer_ids)
        identity_ids = list(identities.values_list("pk", flat=True))
        counts = {
            "identities": len(identity_ids),
            "interactions": Interaction.objects.filter(customer_id__in=footprint.customer_ids).count(),
            "conversations": len(footprint.conversation_ids),
            "calls": len(footprint.call_ids),
            "callbacks": len(footprint.callback_ids),
        }
        # Before the interactions' provider ids are replaced: both of these find rows by those ids.
        counts["inbound_events"] = _erase_inbound_events(footprint)
        _erase_side_records(footprint)
        counts["attachments"] = _erase_attachments(footprint)
        _erase_realtime_events(footprint)
        _erase_interactions(footprint)
        _erase_phone_and_routing(footprint)
        _erase_admin_log(footprint, identity_ids)
        identities.delete()

        # Merge audit trails keep which rows moved (ids only) but not the copied names and attributes.
        merges = MergeRecord.objects.select_for_update().filter(
            Q(source_id__in=footprint.customer_ids) | Q(target_id__in=footprint.customer_ids)
        )
        for merge_record in merges:
            merge_record.moved = {**merge_record.moved, "target_before": {}, "copied": {}, "added_attributes": {}}
            merge_record.save(update_fields=["moved"])

        _scrub_imports(emails=footprint.emails, phones=footprint.phones)

        now = timezone.now()
        Customer.objects.filter(pk__in=footprint.customer_ids).update(
            display_name="", segment="", attributes={}, erased_at=now, updated_at=now
        )
        record = ErasureRecord.objects.create(customer=locked, erased_by=by, erased_at=now, counts=counts)
        transaction.on_commit(_enqueue_vacuum)
    customer.refresh_from_db()
    return record


# Tables whose rows erasure rewrites or deletes. PostgreSQL keeps the old row versions (and their entries in the
# full-text search index) on disk until VACUUM reclaims them: a vacuum after each erasure makes that happen now
# rather than whenever autovacuum gets to a large table.
ERASED_MODELS = (
    Customer,
    Identity,
    MergeRecord,
    CustomerImport,
    Interaction,
    Attachment,
    InboundEvent,
    MessageReference,
    Acknowledgement,
    PendingReceipt,
    Call,
    Callback,
    Transfer,
    IntentCorrection,
    Event,
    LogEntry,
)


def _enqueue_vacuum() -> None:
    registered_task(VACUUM_TASK).delay()


def vacuum_erased_tables() -> list[str]:
    """VACUUM the tables erasure touches (PostgreSQL only, outside any transaction); returns the tables vacuumed."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return []  # SQLite (embedded mode) rewrites pages in place; VACUUM cannot run inside a transaction
    tables = [model._meta.db_table for model in ERASED_MODELS]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'VACUUM "{table}"')
    return tables
