"""Customers in and out as CSV: idempotent import, export safe to open in a spreadsheet.

Columns: display_name, email, phone, language, segment, value_tier, organization (its name), and any number of
`attr:<key>` columns for custom attributes. A row matches an existing customer through its email or phone identity
(normalized by customers.services, so "06 12 34 56 78" and "+33612345678" are one person); otherwise it creates one.
Importing the same file twice creates nothing the second time. Empty cells leave the stored value as it is.

Each line is imported in its own transaction and a bad line never stops the others: its errors are reported as
{"line": n, "errors": {"field": ["message", …]}}, n being the file's line number (the header is line 1).

Export neutralizes CSV injection the way OWASP recommends: a cell starting with "=", "+", "-", "@", tab, carriage
return or line feed — also after leading blanks or invisible characters, and in their full-width forms ("＝") — gets
a leading single quote, so a spreadsheet shows it as text instead of running it as a formula. Phone numbers in E.164
("+33612345678") are therefore exported as "'+33612345678"; the import strips that quote again (and only that one:
export then import gives back the same values). The import never evaluates anything: cells are stored as text, and
refused per line when they cannot be stored (NUL), break a one-line field (control characters), or look like a
formula in the email or phone column. A line the CSV reader cannot read (broken quoting, an oversized field) is
reported with its number and the following lines are still imported.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import selectors
from customers.models import Customer, CustomerImport, Identity, Organization
from customers.profile import clean_attributes
from customers.services import normalize_email, normalize_phone
from omnidesk.celery import registered_task

COLUMNS = ["display_name", "email", "phone", "language", "segment", "value_tier", "organization"]
ATTRIBUTE_PREFIX = "attr:"
DANGEROUS_FIRST_CHARACTERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# What spreadsheets read as the start of a formula once leading blanks are skipped: the ASCII signs and their
# full-width and small forms (some spreadsheets fold them to ASCII), and the minus sign.
FORMULA_SIGNS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe66", "\ufe62", "\ufe63", "\u2212")
PROGRESS_EVERY = 50
# The task running `run_customer_import` (customers/tasks.py), enqueued by its name: see `registered_task`.
IMPORT_TASK = "customers.tasks.run_customer_import"
# Plain profile fields copied from a non-empty cell, with their maximum length.
PROFILE_FIELDS = {"display_name": 200, "language": 16, "segment": 100}

Outcome = Literal["created", "updated", "unchanged", "error"]
Errors = dict[str, list[str]]


@dataclass
class LineResult:
    line: int
    outcome: Outcome
    customer_id: int | None = None
    errors: Errors = field(default_factory=dict)


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: LineResult) -> None:
        if result.outcome == "error":
            self.errors.append({"line": result.line, "errors": result.errors})
        else:
            setattr(self, result.outcome, getattr(self, result.outcome) + 1)


# Import ---------------------------------------------------------------------------------------------------------------


def _skip_blanks(value: str) -> str:
    """`value` without its leading whitespace and invisible format characters (zero-width space, BOM…)."""
    index = 0
    while index < len(value) and (value[index].isspace() or unicodedata.category(value[index]) in ("Cf", "Cc")):
        index += 1
    return value[index:]


def needs_quote(value: str) -> bool:
    """Whether a spreadsheet could run `value` as a formula (or DDE command), or whether it starts with the quote
    our export adds before such a value (so that the quote itself survives a round trip)."""
    if value.startswith(DANGEROUS_FIRST_CHARACTERS) or _skip_blanks(value).startswith(FORMULA_SIGNS):
        return True
    return value[:1] == "'" and needs_quote(value[1:])


def _unquote(value: str) -> str:
    """A cell as typed: trimmed, without the quote our own export adds before a dangerous first character."""
    value = value.strip()
    if value[:1] == "'" and needs_quote(value[1:]):
        return value[1:].strip()
    return value


@dataclass
class BadLine:
    """A line the CSV reader could not read (broken quoting, a field over the size limit)."""

    errors: Errors


def read_rows(content: str) -> Iterator[tuple[int, dict[str, str] | BadLine]]:
    """(line number, {column: cell}) for each data row, or (line number, BadLine) for a line that cannot be read;
    the header is line 1, blank lines are skipped. The reader is strict, so broken quoting is reported instead of
    silently merging lines, and reading goes on after a bad line.

    Raises ValidationError when the header has neither an email nor a phone column.
    """
    reader = csv.reader(io.StringIO(content.lstrip("\ufeff")), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as error:
        raise ValidationError(
            _("The header line of this CSV file cannot be read: %(error)s") % {"error": error}
        ) from None
    if "email" not in header and "phone" not in header:
        raise ValidationError(_("The CSV file needs a header line with an “email” or a “phone” column."))
    start = reader.line_num + 1
    while True:
        line = start
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            start = reader.line_num + 1
            message = _("This line cannot be read as CSV (%(error)s); check its quotes.") % {"error": error}
            yield line, BadLine({"file": [message]})
            continue
        start = reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        yield line, {name: _unquote(cell) for name, cell in zip(header, cells, strict=False) if name}


def count_rows(content: str) -> int:
    try:
        return sum(1 for _row in read_rows(content))
    except ValidationError:
        return 0


@dataclass
class _CleanRow:
    email: str | None
    phone: str | None
    profile: dict[str, str]
    value_tier: str | None
    organization: str | None
    attributes: dict[str, str]


# Cells of one-line fields: no control character (a line break inside a name or a number is never meant).
SINGLE_LINE_COLUMNS = (*COLUMNS,)
PHONE_CHARACTERS = re.compile(r"[0-9+(][0-9 ().\-/]*")


def _refuse_hostile_cells(row: dict[str, str], errors: Errors) -> None:
    """Cells that cannot be stored (NUL), that break a one-line field, or that look like a spreadsheet formula in
    the columns that identify a person (where no real value starts so)."""
    for name, value in row.items():
        if "\x00" in value:
            errors.setdefault(name, []).append(_("This cell contains a NUL character."))
        elif name in SINGLE_LINE_COLUMNS and any(ord(c) < 32 or ord(c) == 127 for c in value):
            errors.setdefault(name, []).append(_("This cell contains a line break or another control character."))
    email = row.get("email", "")
    if email and needs_quote(email):
        errors.setdefault("email", []).append(_("An email address cannot start like a spreadsheet formula."))
    phone = row.get("phone", "")
    if phone and not PHONE_CHARACTERS.fullmatch(phone):
        errors.setdefault("phone", []).append(
            _("A phone number holds only digits, spaces, dots, dashes, slashes, brackets and a leading +.")
        )


def _clean_row(row: dict[str, str]) -> _CleanRow:
    errors: Errors = {}
    _refuse_hostile_cells(row, errors)
    if errors:
        raise ValidationError(errors)

    def check(name: str, function: Callable[[str], str]) -> str | None:
        value = row.get(name, "")
        if not value:
            return None
        try:
            return function(value)
        except ValidationError as error:
            errors.setdefault(name, []).extend(error.messages)
            return None

    email = check("email", normalize_email)
    phone = check("phone", normalize_phone)
    if not row.get("email") and not row.get("phone"):
        errors.setdefault("email", []).append(_("Each line needs an email address or a phone number."))
    profile: dict[str, str] = {}
    for name, limit in PROFILE_FIELDS.items():
        value = row.get(name, "")
        if len(value) > limit:
            errors.setdefault(name, []).append(_("At most %(limit)s characters.") % {"limit": limit})
        elif value:
            profile[name] = value
    value_tier = row.get("value_tier", "").lower() or None
    if value_tier and value_tier not in Customer.ValueTier.values:
        message = _("Unknown value tier “%(value)s”; use one of: %(choices)s.") % {
            "value": row["value_tier"],
            "choices": ", ".join(Customer.ValueTier.values),
        }
        errors.setdefault("value_tier", []).append(message)
    organization = row.get("organization", "") or None
    if organization and len(organization) > 200:
        errors.setdefault("organization", []).append(_("At most %(limit)s characters.") % {"limit": 200})
    attributes = {
        name[len(ATTRIBUTE_PREFIX) :].strip(): value
        for name, value in row.items()
        if name.startswith(ATTRIBUTE_PREFIX) and name[len(ATTRIBUTE_PREFIX) :].strip() and value
    }
    if errors:
        raise ValidationError(errors)
    return _CleanRow(email, phone, profile, value_tier, organization, attributes)


def _identity(kind: str, address: str | None) -> Identity | None:
    if address is None:
        return None
    kinds = [Identity.Kind.PHONE, Identity.Kind.WHATSAPP] if kind == Identity.Kind.PHONE else [kind]
    for each in kinds:
        found = Identity.objects.select_for_update().filter(kind=each, address=address).first()
        if found is not None:
            return found
    return None


def import_row(row: dict[str, str]) -> tuple[Outcome, Customer]:
    """Create or update the customer of one CSV row, in one transaction; ValidationError({field: [messages]}).

    Call it inside a transaction (import_lines does, one per line): identities are row-locked while it decides.
    """
    clean = _clean_row(row)
    email_identity = _identity(Identity.Kind.EMAIL, clean.email)
    phone_identity = _identity(Identity.Kind.PHONE, clean.phone)
    if email_identity and phone_identity and email_identity.customer_id != phone_identity.customer_id:
        raise ValidationError(
            {"phone": [_("This phone number belongs to another customer than the email address of the line.")]}
        )
    existing = email_identity or phone_identity
    if existing is None:
        customer = Customer()
        outcome: Outcome = "created"
    else:
        customer = Customer.objects.select_for_update().get(pk=existing.customer_id)
        outcome = "unchanged"

    changed = False
    for name, value in clean.profile.items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed = True
    if clean.value_tier and customer.value_tier != clean.value_tier:
        customer.value_tier = clean.value_tier
        changed = True
    if clean.organization and (customer.organization is None or customer.organization.name != clean.organization):
        customer.organization, _created = Organization.objects.get_or_create(name=clean.organization)
        changed = True
    current = customer.attributes if isinstance(customer.attributes, dict) else {}
    if any(current.get(key) != value for key, value in clean.attributes.items()):
        try:
            customer.attributes = clean_attributes([*current.items(), *clean.attributes.items()])
        except ValidationError as error:
            raise ValidationError({"attributes": error.messages}) from None
        changed = True
    if changed or existing is None:
        customer.save()
        if existing is not None:
            outcome = "updated"

    for kind, address, identity in (
        (Identity.Kind.EMAIL, clean.email, email_identity),
        (Identity.Kind.PHONE, clean.phone, phone_identity),
    ):
        if address is not None and identity is None:
            Identity.objects.create(customer=customer, kind=kind, address=address)
            if outcome == "unchanged":
                outcome = "updated"
    return outcome, customer


def import_lines(content: str) -> Iterator[LineResult]:
    """Import each row of `content` in its own transaction, yielding what became of each line."""
    try:
        rows = read_rows(content)
        for line, row in rows:
            if isinstance(row, BadLine):
                yield LineResult(line, "error", errors=row.errors)
                continue
            try:
                with transaction.atomic():
                    outcome, customer = import_row(row)
            except ValidationError as error:
                yield LineResult(line, "error", errors=error.message_dict)
            except IntegrityError:
                # Another import or an inbound message created the same identity meanwhile.
                message = _("This line conflicts with a change made at the same time; import it again.")
                yield LineResult(line, "error", errors={"email": [message]})
            else:
                yield LineResult(line, outcome, customer_id=customer.pk)
    except ValidationError as error:
        yield LineResult(1, "error", errors={"file": error.messages})


def import_customers(*, content: str) -> ImportSummary:
    summary = ImportSummary()
    for result in import_lines(content):
        summary.add(result)
    return summary


def run_customer_import(*, import_id: int) -> CustomerImport:
    """Process a stored CustomerImport, saving its progress every PROGRESS_EVERY rows for the supervisor's page.

    Running it again on a finished import does nothing (a redelivered task); on a crash the import is marked failed.
    """
    customer_import = CustomerImport.objects.get(pk=import_id)
    if customer_import.status in (CustomerImport.Status.DONE, CustomerImport.Status.FAILED):
        return customer_import
    rows = CustomerImport.objects.filter(pk=import_id)
    rows.update(status=CustomerImport.Status.RUNNING, total_rows=count_rows(customer_import.content))
    summary = ImportSummary()
    processed = 0

    def save_progress(**extra: Any) -> None:
        rows.update(
            processed_rows=processed,
            created_count=summary.created,
            updated_count=summary.updated,
            errors=summary.errors,
            **extra,
        )

    try:
        for result in import_lines(customer_import.content):
            summary.add(result)
            processed += 1
            if processed % PROGRESS_EVERY == 0:
                save_progress()
    except Exception:
        save_progress(status=CustomerImport.Status.FAILED, finished_at=timezone.now())
        raise
    save_progress(status=CustomerImport.Status.DONE, finished_at=timezone.now())
    customer_import.refresh_from_db()
    return customer_import


def decode_csv(raw: bytes) -> str:
    """An uploaded file's text: UTF-8 (with or without BOM), or UTF-16 with its BOM (Excel's "Unicode text").

    ValidationError for anything else, rather than guessing a legacy encoding and storing mangled names.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    else:
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    raise ValidationError(_("The file must be a CSV file encoded in UTF-8."), code="encoding")


def create_customer_import(*, filename: str, content: str, by: Any) -> CustomerImport:
    """Store an uploaded CSV file and enqueue its processing once committed."""
    task = registered_task(IMPORT_TASK)
    customer_import = CustomerImport.objects.create(
        created_by=by, filename=filename[:255], content=content, total_rows=count_rows(content)
    )
    transaction.on_commit(lambda: task.delay(customer_import.pk))
    return customer_import


# Export ---------------------------------------------------------------------------------------------------------------


def neutralize(value: str) -> str:
    """A cell that a spreadsheet will show as text, never run as a formula (OWASP's advice against CSV injection).

    `_unquote(neutralize(v)) == v.strip()` for every v, so the export imports back unchanged.
    """
    return "'" + value if needs_quote(value) else value


def customers_for_export(user: Any) -> QuerySet[Customer]:
    """The customers `user` may see, in normal use and not erased."""
    return selectors.customers_visible_to(user).filter(merged_into__isnull=True, erased_at__isnull=True)


def write_customers(customers: QuerySet[Customer], out: TextIO) -> int:
    """Write `customers` as CSV to `out` (same columns as the import); returns the number of rows."""
    keys: set[str] = set()
    for attributes in customers.values_list("attributes", flat=True).iterator():
        if isinstance(attributes, dict):
            keys.update(str(key) for key in attributes)
    attribute_keys = sorted(keys)
    writer = csv.writer(out)
    writer.writerow([neutralize(cell) for cell in (*COLUMNS, *(ATTRIBUTE_PREFIX + key for key in attribute_keys))])
    count = 0
    queryset = customers.select_related("organization").prefetch_related("identities").order_by("pk")
    for customer in queryset.iterator(chunk_size=500):
        writer.writerow([neutralize(cell) for cell in _cells(customer, attribute_keys)])
        count += 1
    return count


def _cells(customer: Customer, attribute_keys: Iterable[str]) -> list[str]:
    identities = sorted(customer.identities.all(), key=lambda identity: identity.pk)
    email = next((i.address for i in identities if i.kind == Identity.Kind.EMAIL), "")
    phone = next((i.address for i in identities if i.kind in (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)), "")
    attributes = customer.attributes if isinstance(customer.attributes, dict) else {}
    return [
        customer.display_name,
        email,
        phone,
        customer.language,
        customer.segment,
        customer.value_tier,
        customer.organization.name if customer.organization else "",
        *("" if attributes.get(key) is None else str(attributes[key]) for key in attribute_keys),
    ]


def export_customers(*, user: Any) -> str:
    out = io.StringIO()
    write_customers(customers_for_export(user), out)
    return out.getvalue()


# Erasure --------------------------------------------------------------------------------------------------------------


def _matches(cell: str, *, emails: set[str], phones: set[str]) -> bool:
    value = _unquote(cell)
    if not value:
        return False
    if value.lower() in emails:
        return True
    if phones and any(c.isdigit() for c in value):
        try:
            return normalize_phone(value) in phones
        except ValidationError:
            return False
    return False


def blank_rows_of(content: str, *, emails: set[str], phones: set[str]) -> str:
    """`content` with every cell emptied on the rows holding one of these addresses (same number of lines)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for cells in csv.reader(io.StringIO(content)):
        if any(_matches(cell, emails=emails, phones=phones) for cell in cells):
            cells = ["" for _cell in cells]
        writer.writerow(cells)
    return out.getvalue()
