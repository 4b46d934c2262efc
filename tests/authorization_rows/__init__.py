"""More rows of the authorization matrix, one module per area (`ROWS: dict[str, Row]` in each).

Each area owns its module, so rows for new URLs never collide in one file; `tests/authorization_table.py` gathers
every module of this package into `TABLE`.
"""

from __future__ import annotations

import importlib
import pkgutil

from tests.authorization_roles import Row


def gathered_rows() -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for module in pkgutil.iter_modules(__path__):
        area = importlib.import_module(f"{__name__}.{module.name}")
        duplicated = rows.keys() & area.ROWS.keys()
        if duplicated:
            raise ValueError(f"routes with two rows: {sorted(duplicated)}")
        rows.update(area.ROWS)
    return rows
