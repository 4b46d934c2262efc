"""Reading mail archives (.eml files, mbox files, maildirs) into stored inbound mail."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO

from django.db import transaction

from interactions.inbound import one_nudge_per_channel
from interactions.mail.headers import header_block
from interactions.mail.services import record_raw_mails
from interactions.models import Channel

CHUNK = 200


@dataclass(frozen=True)
class IngestResult:
    read: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.read - self.stored


def head_of(handle: BinaryIO | Any) -> bytes:
    """The first 16 KiB of a message: its headers, for ordering without reading whole messages."""
    with handle:
        return handle.read(16384)


def is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def sent_at(head: bytes) -> float:
    """When a message says it was written (its Date header), for ordering; 0 when it does not say."""
    date = BytesHeaderParser(policy=policy.compat32).parsebytes(header_block(head)).get("Date")
    try:
        return parsedate_to_datetime(str(date)).timestamp() if date else 0.0
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def raw_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """The messages of a file, a maildir or a folder of .eml files. Maildirs and folders list their files in no
    useful order: they are read oldest first (Date header), so that a reply is stored after what it answers."""
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            box = mailbox.Maildir(path, factory=None, create=False)
            keys = sorted(box.iterkeys(), key=lambda key: (sent_at(head_of(box.get_file(key))), key))
            for key in keys:
                yield f"maildir:{path.name}/{key}", box.get_bytes(key)
            return
        files = [child for child in path.iterdir() if child.is_file() and child.suffix.lower() == ".eml"]
        for child in sorted(files, key=lambda child: (sent_at(head_of(child.open("rb"))), child.name)):
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
        with transaction.atomic(), one_nudge_per_channel():
            created = record_raw_mails(channel=channel, mails=pending)  # one INSERT for the chunk
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
