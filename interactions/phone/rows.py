"""One-statement "create unless it exists" for the phone channel's rows on the ingest path.

Django's get_or_create is a SELECT, a SAVEPOINT, an INSERT and a RELEASE; bulk_create(ignore_conflicts=True) returns
no id. On the ingest path each statement counts (docs/phone.md, "Measured figures"): this is one
INSERT … ON CONFLICT (…) DO NOTHING RETURNING id. A row it inserts stays locked by this transaction until it ends.
"""

from __future__ import annotations

from django.db import connection, models


def insert_unless_exists(row: models.Model, *, conflict: tuple[str, ...]) -> bool:
    """Insert `row` unless one with the same `conflict` columns (a unique constraint) exists. True, with `row.pk` set
    and the object marked as stored, when it was inserted; False when it existed (the caller reads that one), or on a
    database that cannot return the id (then nothing is written: the caller falls back to the ORM)."""
    if not connection.features.can_return_columns_from_insert:
        return False
    meta = row._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(row, add=True), connection) for field in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.attname) for field in fields)
    keys = ", ".join(quote(column) for column in conflict)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(values))})"
            f" ON CONFLICT ({keys}) DO NOTHING RETURNING {quote(meta.pk.attname)}",
            values,
        )
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    row.pk = inserted[0]
    row._state.adding = False
    row._state.db = connection.alias
    return True
