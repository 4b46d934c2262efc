"""Managing canned responses in the desk, and their CSV import/export (issue 15, item 2).

Agents manage their personal ones; queue and global ones are shared, so only supervisors create, change or delete
them. The CSV export is formula-safe with customers.csv_io's neutralizer; the import reads our own quoting back.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from assist.canned import usable_by
from assist.models import CannedResponse
from customers.csv_io import needs_quote, neutralize
from interactions import access
from routing.models import Queue

CSV_COLUMNS = ["shortcut", "title", "language", "scope", "queue", "body"]
MAX_IMPORT_ROWS = 2000


def may_manage(user: Any, *, scope: str, owner_id: int | None) -> bool:
    if not access.is_active_agent(user):
        return False
    if scope == CannedResponse.Scope.PERSONAL:
        return owner_id == user.pk
    return access.is_supervisor(user)


# Atomic: the lookup and the write are one step, which is what keeps one row per version on SQLite (see settings).
@transaction.atomic
def save_canned(
    *,
    user: Any,
    shortcut: str,
    title: str,
    body: str,
    language: str = "",
    scope: str = CannedResponse.Scope.PERSONAL,
    queue: Queue | None = None,
) -> CannedResponse:
    """Create or replace (same scope, owner, queue, shortcut and language) one canned response."""
    if scope not in CannedResponse.Scope.values:
        raise ValidationError(_("Unknown scope %(scope)r.") % {"scope": scope}, code="unknown_scope")
    owner_id = user.pk if scope == CannedResponse.Scope.PERSONAL else None
    if not may_manage(user, scope=scope, owner_id=owner_id):
        raise PermissionDenied(_("Only supervisors may manage shared canned responses."))
    if scope == CannedResponse.Scope.QUEUE and queue is None:
        raise ValidationError(_("Pick the queue this canned response is for."), code="queue_required")
    if scope != CannedResponse.Scope.QUEUE:
        queue = None
    response = CannedResponse(
        shortcut=shortcut.strip().lower(),
        title=title.strip(),
        body=body,
        language=language.strip().lower(),
        scope=scope,
        owner_id=owner_id,
        queue=queue,
    )
    response.full_clean(exclude=["owner", "queue"], validate_constraints=False)
    existing = CannedResponse.objects.filter(
        scope=scope, owner_id=owner_id, queue=queue, shortcut=response.shortcut, language=response.language
    ).first()
    if existing is not None:
        existing.title, existing.body = response.title, response.body
        existing.save(update_fields=["title", "body", "updated_at"])
        return existing
    response.save()
    return response


def delete_canned(*, user: Any, pk: Any) -> None:
    response = usable_by(user).filter(pk=pk).first()
    if response is None or not may_manage(user, scope=response.scope, owner_id=response.owner_id):
        raise PermissionDenied(_("You may not delete this canned response."))
    response.delete()


def manageable_by(user: Any) -> QuerySet[CannedResponse]:
    return usable_by(user).select_related("queue").order_by("scope", "shortcut", "language")


def export_csv(user: Any) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for response in manageable_by(user):
        row = [
            response.shortcut,
            response.title,
            response.language,
            response.scope,
            response.queue.name if response.queue else "",
            response.body,
        ]
        writer.writerow([neutralize(cell) for cell in row])
    return out.getvalue()


def _unquote(value: str) -> str:
    """A cell as written: without the quote our export adds before a formula-like first character."""
    if value[:1] == "'" and needs_quote(value[1:]):
        return value[1:]
    return value


def import_csv(*, user: Any, content: str) -> tuple[int, list[str]]:
    """Import rows (the export's columns); returns how many were saved and one message per refused line. A cell
    that would run as a spreadsheet formula is refused, unless quoted as our export quotes it."""
    reader = csv.DictReader(io.StringIO(content))
    if not reader.fieldnames or not {"shortcut", "title", "body"} <= set(reader.fieldnames):
        return 0, [_("The first line must name the columns: %(columns)s.") % {"columns": ", ".join(CSV_COLUMNS)}]
    saved, errors = 0, []
    for line, row in enumerate(reader, start=2):
        if line > MAX_IMPORT_ROWS + 1:
            errors.append(_("Only the first %(count)d lines were read.") % {"count": MAX_IMPORT_ROWS})
            break
        cells = {key: (value or "") for key, value in row.items() if isinstance(key, str)}
        if any(needs_quote(value) and value[:1] != "'" for value in cells.values()):
            errors.append(_("Line %(line)d: a cell starts like a spreadsheet formula.") % {"line": line})
            continue
        cells = {key: _unquote(value) for key, value in cells.items()}
        scope = cells.get("scope") or CannedResponse.Scope.PERSONAL
        queue = None
        if scope == CannedResponse.Scope.QUEUE:
            queue = Queue.objects.filter(name=cells.get("queue", "")).first()
        try:
            with transaction.atomic():
                save_canned(
                    user=user,
                    shortcut=cells.get("shortcut", ""),
                    title=cells.get("title", ""),
                    body=cells.get("body", ""),
                    language=cells.get("language", ""),
                    scope=scope,
                    queue=queue,
                )
            saved += 1
        except (ValidationError, PermissionDenied) as error:
            reason = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            errors.append(_("Line %(line)d: %(reason)s") % {"line": line, "reason": reason})
    return saved, errors
