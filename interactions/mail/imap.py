"""IMAP polling of an email channel's mailbox (imaplib).

A poll reads every message whose UID is above the stored `last_uid` (per UIDVALIDITY), in chunks. Each chunk is
stored as InboundEvents together with the new `last_uid` in one transaction; only after that commit are the messages
flagged \\Seen (or moved, when the channel names a folder). Nothing is ever deleted. A worker killed mid-poll
therefore loses nothing: the uncommitted chunk is read again by the next poll, and the events are unique per
Message-ID anyway, so reading a message twice stores it once.
"""

from __future__ import annotations

import imaplib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from interactions.inbound import one_nudge_per_channel
from interactions.mail.models import MailboxState
from interactions.mail.services import HEAD_BYTES, max_message_bytes, record_raw_mail, too_large_mail
from interactions.models import Channel

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 50
UIDVALIDITY_RE = re.compile(rb"UIDVALIDITY (\d+)")


class MailboxError(Exception):
    """The mailbox could not be read (connection, login, folder)."""


@dataclass(frozen=True)
class PollResult:
    fetched: int
    stored: int
    last_uid: int


@contextmanager
def poller_lock(channel: Channel) -> Iterator[bool]:
    """One poller per mailbox at a time (beat and a manual poll may overlap). A session advisory lock: a killed
    worker's connection closes and releases it."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = 0x6D61696C0000 + channel.pk  # "mail" + channel id
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def open_mailbox(channel: Channel) -> imaplib.IMAP4:
    config, secrets = channel.config, channel.secrets
    host, port = str(config.get("imap_host", "")), int(config.get("imap_port", 993 if config.get("imap_ssl") else 143))
    if not host:
        raise MailboxError("the channel has no imap_host")
    timeout = settings.OMNIDESK_EMAIL_IMAP_TIMEOUT
    try:
        client: imaplib.IMAP4
        if config.get("imap_ssl", False):
            client = imaplib.IMAP4_SSL(host, port, timeout=timeout)
        else:
            client = imaplib.IMAP4(host, port, timeout=timeout)
            if config.get("imap_starttls", False):
                client.starttls()
        client.login(str(config.get("imap_user", "")), str(secrets.get("imap_password", "")))
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxError(f"could not log in to {host}:{port}: {error}") from error
    return client


def select_folder(client: imaplib.IMAP4, folder: str) -> int:
    status, data = client.select(f'"{folder}"')
    if status != "OK":
        raise MailboxError(f"could not select {folder}: {data!r}")
    _status, response = client.response("UIDVALIDITY")
    if response and response[0]:
        return int(response[0])
    _status, data = client.status(f'"{folder}"', "(UIDVALIDITY)")
    match = UIDVALIDITY_RE.search(data[0] if data and isinstance(data[0], bytes) else b"")
    if not match:
        raise MailboxError("the server reported no UIDVALIDITY")
    return int(match.group(1))


def uids_after(client: imaplib.IMAP4, last_uid: int) -> list[int]:
    status, data = client.uid("SEARCH", f"UID {last_uid + 1}:*")
    if status != "OK":
        raise MailboxError(f"UID SEARCH failed: {data!r}")
    # "n:*" always matches the highest UID, even when it is below n: filter.
    return sorted(uid for uid in (int(x) for x in (data[0] or b"").split()) if uid > last_uid)


SIZE_RE = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")


def message_sizes(client: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
    """RFC822.SIZE of each message, read before any body: a huge mail is never downloaded whole."""
    status, data = client.uid("FETCH", ",".join(map(str, uids)), "(UID RFC822.SIZE)")
    if status != "OK":
        raise MailboxError(f"UID FETCH RFC822.SIZE failed: {data!r}")
    sizes: dict[int, int] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid = size = None
        for match in SIZE_RE.finditer(line[:500]):
            uid = int(match.group(1)) if match.group(1) else uid
            size = int(match.group(2)) if match.group(2) else size
        if uid is not None and size is not None:
            sizes[uid] = size
    return sizes


def fetch_messages(client: imaplib.IMAP4, uids: list[int], *, part: str = "BODY.PEEK[]") -> dict[int, bytes]:
    if not uids:
        return {}
    status, data = client.uid("FETCH", ",".join(map(str, uids)), f"(UID {part})")
    if status != "OK":
        raise MailboxError(f"UID FETCH failed: {data!r}")
    messages: dict[int, bytes] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        match = re.search(rb"UID (\d+)", item[0])
        if match:
            messages[int(match.group(1))] = item[1]
    return messages


def fetch_chunk(
    client: imaplib.IMAP4, uids: list[int], *, limit: int
) -> tuple[dict[int, bytes], dict[int, tuple[bytes, int]]]:
    """The chunk's messages up to `limit` bytes, whole; and, for bigger ones, only their headers (first 64 KiB)
    with their size, to be stored as a "too large" note."""
    sizes = message_sizes(client, uids)
    small = [uid for uid in uids if sizes.get(uid, 0) <= limit]
    large = [uid for uid in uids if sizes.get(uid, 0) > limit]
    heads = fetch_messages(client, large, part=f"BODY.PEEK[HEADER]<0.{HEAD_BYTES}>")
    return fetch_messages(client, small), {uid: (head, sizes[uid]) for uid, head in heads.items()}


def mark_stored(client: imaplib.IMAP4, uids: list[int], *, move_to: str) -> None:
    """Called only after the chunk's commit: flag (and move) what is now safely stored."""
    if not uids:
        return
    uid_set = ",".join(map(str, uids))
    client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Seen)")
    if move_to:
        client.uid("MOVE", uid_set, f'"{move_to}"')


def poll_mailbox(*, channel: Channel) -> PollResult | None:
    """Store every new message of the channel's mailbox; None when another poller holds the mailbox right now."""
    with poller_lock(channel) as acquired:
        if not acquired:
            return None
        try:
            return read_new_messages(channel)
        except MailboxError as error:
            MailboxState.objects.update_or_create(channel=channel, defaults={"last_error": str(error)[:2000]})
            raise


def read_new_messages(channel: Channel) -> PollResult:
    config = channel.config
    chunk = max(1, int(config.get("imap_chunk", DEFAULT_CHUNK)))
    move_to = str(config.get("imap_move_to", ""))
    limit = max_message_bytes(channel)
    client = open_mailbox(channel)
    fetched = stored = 0
    try:
        uidvalidity = select_folder(client, str(config.get("imap_folder", "INBOX")))
        state, _created = MailboxState.objects.get_or_create(channel=channel)
        if state.uidvalidity != uidvalidity:
            # The server renumbered the folder: read it all again; Message-ID deduplication keeps what we have.
            state.uidvalidity, state.last_uid = uidvalidity, 0
            state.save(update_fields=["uidvalidity", "last_uid"])
        uids = uids_after(client, state.last_uid)
        for start in range(0, len(uids), chunk):
            batch = uids[start : start + chunk]
            messages, oversize = fetch_chunk(client, batch, limit=limit)
            with transaction.atomic(), one_nudge_per_channel():
                for uid in batch:
                    source = f"imap:{uidvalidity}:{uid}"
                    raw = messages.get(uid)
                    if uid in oversize:
                        head, size = oversize[uid]
                        raw = too_large_mail(head=head, size=size, limit=limit, source=source)
                    if raw is None:
                        continue  # expunged meanwhile
                    _event, created = record_raw_mail(channel=channel, raw=raw, source=source)
                    stored += int(created)
                MailboxState.objects.filter(pk=state.pk).update(last_uid=batch[-1])
            fetched += len(messages) + len(oversize)
            # An oversize original is flagged too, and left in the mailbox: the note says it is there.
            mark_stored(client, [uid for uid in batch if uid in messages or uid in oversize], move_to=move_to)
        MailboxState.objects.filter(pk=state.pk).update(last_polled_at=timezone.now(), last_error="")
        return PollResult(fetched=fetched, stored=stored, last_uid=uids[-1] if uids else state.last_uid)
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def mailboxes_due(*, now: Any = None) -> list[Channel]:
    """Active email channels with IMAP configured whose poll interval has elapsed."""
    now = now or timezone.now()
    due = []
    channels = Channel.objects.filter(kind=Channel.Kind.EMAIL, is_active=True).select_related("mailbox_state")
    for channel in channels:
        if not channel.config.get("imap_host"):
            continue
        interval = timedelta(seconds=int(channel.config.get("poll_interval", 60)))
        state = getattr(channel, "mailbox_state", None)
        if state is None or state.last_polled_at is None or state.last_polled_at + interval <= now:
            due.append(channel)
    return due
