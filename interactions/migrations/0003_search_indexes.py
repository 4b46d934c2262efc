"""Indexes for message search and the keyset-paginated customer timeline (PostgreSQL only; no-op on SQLite).

- interaction_text_fts: GIN on `to_tsvector('simple', text)`, the exact expression `customers.selectors` filters on.
- interaction_customer_id: (customer_id, id DESC), serving `customer_timeline`'s `customer = … AND id < before
  ORDER BY id DESC LIMIT n` as a pure index range scan, however deep the page.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

INDEXES = {
    "interaction_text_fts": "interactions_interaction USING gin (to_tsvector('simple'::regconfig, text))",
    "interaction_customer_id": "interactions_interaction (customer_id, id DESC)",
}


def create_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, target in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("interactions", "0002_channel_identity_secret")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
