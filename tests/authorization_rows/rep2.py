"""Reporting's rows added in rep2: the staffing page is for supervisors (its figures are every queue's)."""

from __future__ import annotations

from tests.authorization_roles import DESK_GET_ONLY, Row, desk_supervisors

ROWS: dict[str, Row] = {
    "desk/reports/staffing/": Row(lambda w, s: "/desk/reports/staffing/", desk_supervisors(200), DESK_GET_ONLY),
}
