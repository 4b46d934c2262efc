"""Merging two customers who turned out to be one person, undoing it, and spotting likely duplicates.

A merge moves every row that points at the merged-away customer (the source) to the surviving one (the target), using
whatever models have a ForeignKey to Customer, so a model added later is moved without changing this module. The
source stays as a row, with `merged_into` set, for the audit trail and for unmerge.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Identity, MergeRecord
from interactions.access import is_supervisor

# Copied from the source only when the target has none: the surviving customer's own data always wins.
FILLED_FIELDS = ("display_name", "language")
PHONE_KINDS = (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)


def customer_foreign_keys() -> list[models.ForeignKey[Any, Any]]:
    """Every ForeignKey to Customer whose rows follow the person, in a stable order.

    One-to-one fields are left out (the target may already have its own row), and so are the merge bookkeeping
    relations themselves (`merged_into`, MergeRecord's source and target).
    """
    fields = [
        relation.field
        for relation in Customer._meta.related_objects
        if isinstance(relation.field, models.ForeignKey)
        and not isinstance(relation.field, models.OneToOneField)
        and relation.related_model not in (Customer, MergeRecord)
    ]
    return sorted(fields, key=lambda field: (field.model._meta.label, field.name))


def _check_may_merge(user: Any) -> None:
    if not is_supervisor(user):
        raise PermissionDenied(_("Only supervisors may merge or unmerge customers."))


def _lock_pair(first_pk: int, second_pk: int) -> tuple[Customer, Customer]:
    # Always in primary-key order, so that two merges of the same pair in opposite directions cannot deadlock.
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[first_pk, second_pk]).order_by("pk")}
    return locked[first_pk], locked[second_pk]


def _copy_state(*, into: models.Model, source: models.Model) -> None:
    for field in type(source)._meta.concrete_fields:
        setattr(into, field.attname, getattr(source, field.attname))


def merge_customers(*, source: Customer, target: Customer, by: Any) -> MergeRecord:
    """Fold `source` into `target` and return the record that allows undoing it.

    All rows with a ForeignKey to Customer move from source to target; the target's empty display name and language
    are filled from the source and the source's attribute keys the target lacks are added (the target wins on
    conflicts). The source is kept, marked `merged_into` the target. Everything happens in one transaction holding
    both customers' row locks: on any error nothing is written.

    Raises PermissionDenied unless `by` is a supervisor (or staff); ValidationError with code "merge_into_self" for the
    same customer and "already_merged" when either customer was already merged away. On success `source` and
    `target` are updated in place.
    """
    _check_may_merge(by)
    if source.pk == target.pk:
        raise ValidationError(_("A customer cannot be merged into itself."), code="merge_into_self")
    with transaction.atomic():
        locked_source, locked_target = _lock_pair(source.pk, target.pk)
        if locked_source.merged_into_id is not None or locked_target.merged_into_id is not None:
            raise ValidationError(
                _("This customer was already merged into another one; work with the surviving customer."),
                code="already_merged",
            )

        rows: dict[str, dict[str, list[int]]] = {}
        for field in customer_foreign_keys():
            manager = field.model._base_manager
            # Locking the rows keeps a concurrent update from slipping between reading the ids and moving them.
            pks = list(
                manager.select_for_update()
                .filter(**{field.attname: locked_source.pk})
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if pks:
                manager.filter(pk__in=pks).update(**{field.attname: locked_target.pk})
                rows.setdefault(field.model._meta.label, {})[field.name] = pks

        target_before: dict[str, Any] = {}
        copied: dict[str, Any] = {}
        for name in FILLED_FIELDS:
            if not getattr(locked_target, name) and getattr(locked_source, name):
                target_before[name] = getattr(locked_target, name)
                copied[name] = getattr(locked_source, name)
                setattr(locked_target, name, copied[name])
        added_attributes: dict[str, Any] = {}
        if isinstance(locked_source.attributes, dict) and isinstance(locked_target.attributes, dict):
            added_attributes = {
                key: value for key, value in locked_source.attributes.items() if key not in locked_target.attributes
            }
            if added_attributes:
                locked_target.attributes = {**locked_target.attributes, **added_attributes}
        if copied or added_attributes:
            changed = [*copied, *(["attributes"] if added_attributes else [])]
            locked_target.save(update_fields=[*changed, "updated_at"])

        now = timezone.now()
        locked_source.merged_into = locked_target
        locked_source.merged_at = now
        locked_source.save(update_fields=["merged_into", "merged_at", "updated_at"])

        record = MergeRecord.objects.create(
            source=locked_source,
            target=locked_target,
            merged_by=by,
            merged_at=now,
            moved={
                "rows": rows,
                "target_before": target_before,
                "copied": copied,
                "added_attributes": added_attributes,
            },
        )
    _copy_state(into=source, source=locked_source)
    _copy_state(into=target, source=locked_target)
    return record


def unmerge_customers(*, record: MergeRecord, by: Any) -> Customer:
    """Undo the merge of `record` and return the source customer, in normal use again.

    The rows recorded as moved go back to the source (those since deleted or moved elsewhere are left alone), and
    so do rows created on the target after the merge that belong to a row moved back (e.g. a new message in one of
    the source's conversations). Anything else created on the target after the merge, such as a conversation opened
    through one of the source's identities, stays with the target. The target's display name, language and the
    attribute keys copied from the source get their previous values back unless they were edited since.

    Raises PermissionDenied unless `by` is a supervisor (or staff); ValidationError with code "already_unmerged" when
    the record was undone before, and "target_merged" when the target has since been merged away itself (undo that
    merge first). On success `record` is updated in place.
    """
    _check_may_merge(by)
    with transaction.atomic():
        locked_record = MergeRecord.objects.select_for_update().get(pk=record.pk)
        if locked_record.unmerged_at is not None:
            raise ValidationError(_("This merge was already undone."), code="already_unmerged")
        source, target = _lock_pair(locked_record.source_id, locked_record.target_id)
        if target.merged_into_id is not None:
            raise ValidationError(
                _("The surviving customer was merged again since; undo that merge first."), code="target_merged"
            )
        moved = locked_record.moved

        moved_back: dict[type[models.Model], list[int]] = {}
        for label, fields in moved.get("rows", {}).items():
            model = apps.get_model(label)
            for name, pks in fields.items():
                attname = model._meta.get_field(name).attname
                model._base_manager.filter(pk__in=pks, **{attname: target.pk}).update(**{attname: source.pk})
                moved_back.setdefault(model, []).extend(pks)

        # Rows that joined a moved-back parent after the merge follow it, so that e.g. a message never points at
        # one customer while its conversation points at the other.
        for field in customer_foreign_keys():
            for parent_field in field.model._meta.concrete_fields:
                parent = parent_field.related_model if parent_field.many_to_one else None
                if parent in moved_back and parent is not Customer:
                    field.model._base_manager.filter(
                        **{f"{parent_field.attname}__in": moved_back[parent], field.attname: target.pk}
                    ).update(**{field.attname: source.pk})

        changed: list[str] = []
        copied = moved.get("copied", {})
        for name, before in moved.get("target_before", {}).items():
            if getattr(target, name) == copied.get(name):
                setattr(target, name, before)
                changed.append(name)
        added_attributes = moved.get("added_attributes", {})
        if added_attributes and isinstance(target.attributes, dict):
            restored = {
                key: value
                for key, value in target.attributes.items()
                if not (key in added_attributes and added_attributes[key] == value)
            }
            if restored != target.attributes:
                target.attributes = restored
                changed.append("attributes")
        if changed:
            target.save(update_fields=[*changed, "updated_at"])

        source.merged_into = None
        source.merged_at = None
        source.save(update_fields=["merged_into", "merged_at", "updated_at"])

        locked_record.unmerged_by = by
        locked_record.unmerged_at = timezone.now()
        locked_record.save(update_fields=["unmerged_by", "unmerged_at"])
    _copy_state(into=record, source=locked_record)
    return source


def _without_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def duplicate_suggestions(customer: Customer, *, limit: int = 10) -> list[Customer]:
    """Other customers in normal use who are probably the same person as `customer`, best matches first.

    A shared address comes first: the same email address under any identity kind (case-insensitive; identities are
    unique per kind, so the same person may hold one address as "email" and as "external"), or the same phone number
    (digits only) as a phone or WhatsApp identity. Then the same display name, ignoring case and accents. Ties are
    ordered by id. Never `customer` itself nor merged-away customers.
    """
    addresses = list(customer.identities.values_list("kind", "address"))
    # Identities are stored normalized (customers.services: lower-cased emails, E.164 phones), so the same email or
    # number is an exact match, whatever kind of identity carries it.
    emails = sorted({address for kind, address in addresses if kind == Identity.Kind.EMAIL})
    phones = sorted({address for kind, address in addresses if kind in PHONE_KINDS})
    # An email is distinctive whatever identity carries it (an external id may be one).
    same_address = Identity.objects.filter(Q(address__in=emails) | Q(kind__in=PHONE_KINDS, address__in=phones))
    by_address = Q(pk__in=same_address.values("customer_id"))

    name = " ".join(_without_accents(customer.display_name).split())
    # unaccent is PostgreSQL's; the embedded SQLite mode compares names as written.
    name_lookup = "display_name__unaccent__iexact" if connection.vendor == "postgresql" else "display_name__iexact"
    by_name = Q(**{name_lookup: name}) if name else Q(pk__in=[])

    if not (emails or phones or name):
        return []
    candidates = (
        Customer.objects.unmerged()
        .exclude(pk=customer.pk)
        .filter(by_address | by_name)
        .annotate(rank=Case(When(by_address, then=Value(0)), default=Value(1)))
        .order_by("rank", "pk")
    )
    return list(candidates[:limit])
