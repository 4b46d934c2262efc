"""French complete (issue 15, item 8): every msgid used in code or templates has a French translation.

`makemessages` runs on a temporary copy of the source tree (never on our locale/), then gettext's `msgcmp` compares
the extracted catalog with locale/fr: by default it ignores untranslated and fuzzy entries of ours, so any msgid
without a real French translation fails the test, named in the message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", ".git", "locale", "node_modules", "test-artifacts", "staticfiles", "media", "__pycache__", "bench"}


def test_it_has_a_french_translation_for_every_msgid(tmp_path: Path) -> None:
    # A missing gettext is a broken machine, not a reason to skip: makemessages and compilemessages need it too.
    assert shutil.which("msgcmp"), "install gettext (msgcmp): the French check cannot run without it"
    copy = tmp_path / "tree"
    shutil.copytree(ROOT, copy, ignore=lambda _dir, names: [n for n in names if n in SKIP])
    (copy / "locale").mkdir()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "omnidesk.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale", "fr", "--no-obsolete", "--no-location"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    extracted = copy / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    ours = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(["msgcmp", str(ours), str(extracted)], capture_output=True, text=True)
    assert result.returncode == 0, "msgids without a French translation:\n" + missing(ours, extracted, tmp_path)


def missing(ours: Path, extracted: Path, tmp_path: Path) -> str:
    """The untranslated (or fuzzy) entries themselves, for the failure message: our translations merged into the
    extracted catalog, then the entries still without a usable one."""
    merged = tmp_path / "merged.po"
    subprocess.run(
        ["msgmerge", "--quiet", "--no-fuzzy-matching", "-o", str(merged), str(ours), str(extracted)], check=True
    )
    untranslated = subprocess.run(["msgattrib", "--untranslated", "--no-obsolete", str(merged)], capture_output=True)
    fuzzy = subprocess.run(["msgattrib", "--only-fuzzy", "--no-obsolete", str(merged)], capture_output=True)
    return (untranslated.stdout + fuzzy.stdout).decode()[-20000:]
