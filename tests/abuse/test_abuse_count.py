"""The abuse suite must hold at least 300 distinct hostile inputs: counted from pytest's own collection, so a case
that stops being collected (renamed, skipped at import, parametrize list emptied) lowers the count and fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ABUSE_DIR = Path(__file__).resolve().parent
MINIMUM = 300


def test_it_holds_at_least_300_hostile_inputs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(ABUSE_DIR)],
        capture_output=True,
        text=True,
        cwd=ABUSE_DIR.parent.parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    cases = [
        line
        for line in result.stdout.splitlines()
        if "::" in line and "test_abuse_count.py" not in line and "[" in line
    ]
    ids = set(cases)
    assert len(ids) == len(cases), "a hostile input is listed twice"
    assert len(cases) >= MINIMUM, f"only {len(cases)} parametrized hostile inputs under tests/abuse/"
