"""The GDPR right of access: everything stored about one person, as JSON-serializable data.

Covers the same rows as erasure (customers.gdpr_footprint): profile, identities, conversations, every interaction
with its text, HTML and channel details (email headers, Message-IDs, call timings), attachments with their bytes
(base64: the export is one JSON document), calls, callbacks, transfer notes, intent corrections, mail references,
the raw inbound payloads and the merge records.
"""

from __future__ import annotations

import base64
from typing import Any

from django.db.models import Q

from customers.gdpr_footprint import Footprint, footprint_of, inbound_events_of
from customers.models import Customer, Identity, MergeRecord
from interactions.models import Attachment
from routing.models import IntentCorrection

EXPORT_FORMAT_VERSION = 2


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def attachment_bytes(attachment: Attachment) -> str | None:
    """The stored file as base64, or None when there is no file (omitted, or already gone from storage)."""
    if not attachment.file or not attachment.file.name:
        return None
    try:
        with attachment.file.storage.open(attachment.file.name, "rb") as handle:
            return base64.b64encode(handle.read()).decode("ascii")
    except OSError:
        return None


def profile_section(customer: Customer) -> dict[str, Any]:
    organization = customer.organization
    return {
        "id": customer.pk,
        "display_name": customer.display_name,
        "language": customer.language,
        "organization": organization.name if organization else None,
        "segment": customer.segment,
        "value_tier": customer.value_tier,
        "attributes": customer.attributes,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
        "merged_into": customer.merged_into_id,
        "erased_at": iso(customer.erased_at),
    }


def conversation_rows(footprint: Footprint) -> list[dict[str, Any]]:
    return [
        {
            "id": c.pk,
            "channel": c.channel.get_kind_display(),
            "queue": c.queue.name if c.queue else None,
            "status": c.status,
            "priority": c.priority,
            "created_at": iso(c.created_at),
            "resolved_at": iso(c.resolved_at),
            "transfers": [{"note": t.note, "created_at": iso(t.created_at)} for t in c.transfers.all()],
        }
        for c in footprint.conversations()
        .select_related("channel", "queue")
        .prefetch_related("transfers")
        .order_by("pk")
    ]


def interaction_rows(footprint: Footprint) -> list[dict[str, Any]]:
    queryset = footprint.interactions().select_related("channel").prefetch_related("attachments", "mail_references")
    return [
        {
            "id": i.pk,
            "conversation_id": i.conversation_id,
            "channel": i.channel.get_kind_display(),
            "kind": i.kind,
            "direction": i.direction,
            "text": i.text,
            "html": i.html,
            "details": i.meta,
            "status": i.status,
            "error": i.error,
            "external_id": i.external_id,
            "message_ids": [r.message_id for r in i.mail_references.all()],
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "source_url": a.source_url,
                    "omitted_reason": a.omitted_reason,
                    "content_base64": attachment_bytes(a),
                }
                for a in i.attachments.all()
            ],
            "created_at": iso(i.created_at),
        }
        for i in queryset.order_by("pk")
    ]


def call_rows(footprint: Footprint) -> list[dict[str, Any]]:
    return [
        {
            "id": call.pk,
            "conversation_id": call.conversation_id,
            "direction": call.direction,
            "number": call.number,
            "number_as_received": call.raw_number,
            "state": call.state,
            "result": call.result,
            "recording_url": call.recording_url,
            "ringing_at": iso(call.ringing_at),
            "answered_at": iso(call.answered_at),
            "ended_at": iso(call.ended_at),
            "disposition": call.disposition.label if call.disposition else None,
            "notes": call.notes,
        }
        for call in footprint.calls().select_related("disposition").order_by("pk")
    ]


def callback_rows(footprint: Footprint) -> list[dict[str, Any]]:
    return [
        {
            "id": callback.pk,
            "number": callback.number,
            "reason": callback.reason,
            "note": callback.note,
            "window_start": iso(callback.window_start),
            "window_end": iso(callback.window_end),
            "status": callback.status,
            "outcome": callback.outcome,
            "attempts": callback.attempts,
        }
        for callback in footprint.callbacks().order_by("pk")
    ]


def export_person(customer: Customer) -> dict[str, Any]:
    """Everything about `customer` and the customers merged into them; no permission check (the caller's job)."""
    footprint = footprint_of(customer)
    corrections = IntentCorrection.objects.filter(conversation_id__in=footprint.conversation_ids)
    pks = footprint.customer_ids
    merges = MergeRecord.objects.filter(Q(source_id__in=pks) | Q(target_id__in=pks))
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "profile": profile_section(customer),
        "identities": [
            {"kind": i.kind, "address": i.address, "verified": i.verified, "created_at": iso(i.created_at)}
            for i in Identity.objects.filter(customer_id__in=footprint.customer_ids).order_by("kind", "address")
        ],
        "conversations": conversation_rows(footprint),
        "interactions": interaction_rows(footprint),
        "calls": call_rows(footprint),
        "callbacks": callback_rows(footprint),
        "intent_corrections": [
            {"conversation_id": c.conversation_id, "text": c.text, "created_at": iso(c.created_at)}
            for c in corrections.order_by("pk")
        ],
        "inbound_events": [
            {
                "channel_id": e.channel_id,
                "provider": e.provider,
                "external_id": e.external_id,
                "payload": e.payload,
                "received_at": iso(e.received_at),
            }
            for e in inbound_events_of(footprint)
        ],
        "merge_records": [
            {
                "id": r.pk,
                "source_id": r.source_id,
                "target_id": r.target_id,
                "merged_at": iso(r.merged_at),
                "unmerged_at": iso(r.unmerged_at),
            }
            for r in merges.order_by("pk")
        ],
    }
