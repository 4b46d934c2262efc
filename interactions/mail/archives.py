"""Reading mail archives (.eml files, mbox files, maildirs) into stored inbound mail."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from interactions.mail.services import record_raw_mail
from interactions.models import Channel

CHUNK = 200


@dataclass(frozen=True)
class IngestResult:
    read: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.read - self.stored


def is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def raw_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in box.iterkeys():
                yield f"maildir:{path.name}/{key}", box.get_bytes(key)
            return
        for child in sorted(path.iterdir()):
            if child.is_file() and child.suffix.lower() == ".eml":
                yield f"file:{child.name}", child.read_bytes()
        return
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if is_mbox(path):
        archive = mailbox.mbox(path, create=False)
        for index, key in enumerate(archive.iterkeys()):
            yield f"mbox:{path.name}#{index}", archive.get_bytes(key)
        return
    yield f"file:{path.name}", path.read_bytes()


def ingest_paths(*, channel: Channel, paths: Iterable[str | Path]) -> IngestResult:
    """Store every message found; one transaction per chunk, and a message already stored is not stored twice."""
    read = stored = 0
    pending: list[tuple[str, bytes]] = []

    def flush() -> int:
        with transaction.atomic():
            created = sum(int(record_raw_mail(channel=channel, raw=raw, source=source)[1]) for source, raw in pending)
        pending.clear()
        return created

    for path in paths:
        for source, raw in raw_messages(Path(path)):
            read += 1
            pending.append((source, raw))
            if len(pending) >= CHUNK:
                stored += flush()
    if pending:
        stored += flush()
    return IngestResult(read=read, stored=stored)
