"""CSV and XLSX exports that a spreadsheet never executes: a text cell starting with = + - @, a tab or a CR is
prefixed with an apostrophe (OWASP's CSV-injection advice), in both formats — numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralize(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else neutralize(v) for v in row])
    return buffer.getvalue()


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("report")
    sheet.append([neutralize(h) for h in header])
    for row in rows:
        # openpyxl would store a string starting with "=" as a formula; neutralized, it is a plain string.
        sheet.append([neutralize(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
