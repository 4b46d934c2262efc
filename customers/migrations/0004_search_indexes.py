"""Trigram indexes for customer search (PostgreSQL only; a no-op on the embedded SQLite mode).

The indexed expressions are exactly what Django generates for `icontains`/`iendswith` on a CharField under
PostgreSQL, `UPPER("column"::text) LIKE UPPER(%s)`, so the search selectors' ORM filters can use them.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEXES = {
    "customer_name_trgm": "customers_customer USING gin (UPPER(display_name::text) gin_trgm_ops)",
    "identity_address_trgm": "customers_identity USING gin (UPPER(address::text) gin_trgm_ops)",
}


def create_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, target in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_organization_gdpr_import")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
