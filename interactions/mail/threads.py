"""Which conversation an inbound mail belongs to, in this order: the reply token in a recipient address
(`support+<token>@…`), In-Reply-To, References, a `[#<conversation id>-<signature>]` subject tag; otherwise none.

Both the reply token and the subject tag are signed with SECRET_KEY, so neither can be made up from a conversation
id; Message-IDs are only matched against mail of the same channel that we stored or sent. A marker found here is a
claim, not a proof: the processor threads on it only when the sender is one of the conversation's customer's
identities (see `interactions.mail.services.process_mail_event`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from interactions.mail.models import MessageReference
from interactions.mail.parsing import ParsedMail
from interactions.models import Channel, Conversation, InboundEvent

TOKEN_RE = re.compile(r"\+(c\d+-[0-9a-f]{12})@", re.IGNORECASE)
SUBJECT_TAG_RE = re.compile(r"\[#(\d{1,18})-([0-9a-f]{8})\]", re.IGNORECASE)


@dataclass(frozen=True)
class Thread:
    conversation: Conversation
    by: str  # "token" | "in-reply-to" | "references" | "subject"


def signature(purpose: str, conversation_id: int) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"omnidesk.mail.{purpose}:{conversation_id}".encode(), hashlib.sha256
    ).hexdigest()


def reply_token(conversation_id: int) -> str:
    return f"c{conversation_id}-{signature('reply', conversation_id)[:12]}"


def conversation_id_from_token(token: str) -> int | None:
    token = token.lower()
    try:
        conversation_id = int(token[1:].split("-", 1)[0])
    except ValueError:
        return None
    return conversation_id if hmac.compare_digest(reply_token(conversation_id).encode(), token.encode()) else None


def reply_address(channel: Channel, conversation_id: int) -> str:
    """The channel's address with the conversation's token as sub-address: support+c12-…@example.com."""
    address = channel_address(channel)
    local, _at, domain = address.partition("@")
    return f"{local}+{reply_token(conversation_id)}@{domain}"


def channel_address(channel: Channel) -> str:
    return str(channel.config.get("address") or settings.DEFAULT_FROM_EMAIL)


def subject_tag(conversation_id: int) -> str:
    """`[#12-1a2b3c4d]`: the conversation's reference in subjects; the signature makes it unguessable."""
    return f"[#{conversation_id}-{signature('subject', conversation_id)[:8]}]"


def conversation_id_from_subject(subject: str) -> int | None:
    for match in SUBJECT_TAG_RE.finditer(subject[:1000]):
        conversation_id = int(match.group(1))
        if hmac.compare_digest(subject_tag(conversation_id).encode(), match.group(0).lower().encode()):
            return conversation_id
    return None


def thread_ids(parsed: ParsedMail) -> list[tuple[list[str], str]]:
    """The Message-IDs threading looks up, by marker, in the order it tries them."""
    return [(parsed.in_reply_to[:50], "in-reply-to"), (list(reversed(parsed.references))[:50], "references")]


def parent_ids(parsed: ParsedMail) -> list[str]:
    """The Message-IDs of the stored mails this one may answer (its parents, see services.pending_parents)."""
    return [*parsed.in_reply_to, *parsed.references][-50:]


# --- a batch's threads, looked up once -------------------------------------------------------------------------------
# Message by message, threading looked up the references of each mail (one SELECT), and in the embedded mode its
# pending parents (another): a batch of mails now reads both for all its mails in two statements, then answers from
# memory for the Message-IDs it read, and asks the database only about others (a parent's own parents).


@dataclass
class BatchThreads:
    channel_id: int
    looked_up: set[str]  # the Message-IDs read: `references` and `pending` are complete for these
    references: dict[str, Conversation]
    pending: dict[str, set[int]]  # Message-ID → stored mails not processed (nor dead) when the batch began
    made: dict[str, Conversation] = field(default_factory=dict)  # references this batch made (perhaps not inserted)


_batch_threads: ContextVar[BatchThreads | None] = ContextVar("mail_batch_threads", default=None)


@contextmanager
def batch_threads(*, channel: Channel, mails: Iterable[ParsedMail]) -> Iterator[None]:
    """Within the block, threading answers from what the batch's `mails` refer to, read here in two statements."""
    wanted: set[str] = set()
    for parsed in mails:
        for ids, _by in thread_ids(parsed):
            wanted.update(ids)
        wanted.update(parent_ids(parsed))
    batch = BatchThreads(channel.pk, wanted, {}, {})
    if wanted:
        batch.references = _referenced_cases(channel, wanted)
        for external_id, event_id in _pending_events(channel, wanted):
            batch.pending.setdefault(external_id, set()).add(event_id)
    token = _batch_threads.set(batch)
    try:
        yield
    finally:
        _batch_threads.reset(token)


# The batch's two reads as SQL text with array parameters: the ORM compiled each, a parameter per Message-ID, for
# every batch (about as much CPU as the rest of the batch's prelude but its parsing).


def _referenced_cases(channel: Channel, message_ids: set[str]) -> dict[str, Conversation]:
    """Message-ID → its case on `channel`: `MessageReference.objects.filter(message_id__in=…, conversation__channel=…)
    .select_related("conversation")`, each reference's case a whole Conversation (of its own, as there)."""
    if connection.vendor != "postgresql":
        references = MessageReference.objects.filter(
            message_id__in=message_ids, conversation__channel=channel
        ).select_related("conversation")
        return {reference.message_id: reference.conversation for reference in references}
    cases = Conversation.objects.raw(
        f"SELECT c.*, r.message_id AS referenced_by FROM {quoted(MessageReference._meta.db_table)} r"
        f" JOIN {quoted(Conversation._meta.db_table)} c ON c.id = r.conversation_id"
        " WHERE r.message_id = ANY(%s::varchar[]) AND c.channel_id = %s ORDER BY r.id",
        [sorted(message_ids), channel.pk],
    )
    found: dict[str, Conversation] = {}
    for case in cases:
        message_id = case.__dict__.pop("referenced_by")  # not a field of the case
        found[message_id] = case
    return found


def quoted(table: str) -> str:
    return connection.ops.quote_name(table)


def _pending_events(channel: Channel, message_ids: set[str]) -> list[tuple[str, int]]:
    """(external id, id) of the channel's stored mails among `message_ids` not processed (nor dead) yet."""
    if connection.vendor != "postgresql":
        return list(
            InboundEvent.objects.filter(
                channel_id=channel.pk,
                external_id__in=message_ids,
                processed_at__isnull=True,
                dead_lettered_at__isnull=True,
            ).values_list("external_id", "id")
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, id FROM {quoted(InboundEvent._meta.db_table)} WHERE channel_id = %s"
            " AND external_id = ANY(%s::varchar[]) AND processed_at IS NULL AND dead_lettered_at IS NULL",
            [channel.pk, sorted(message_ids)],
        )
        return [(external_id, event_id) for external_id, event_id in cursor.fetchall()]


def note_reference(*, message_id: str, conversation: Conversation) -> None:
    """The batch stored a reference (perhaps deferred to its flush): later mails of the batch thread on it."""
    batch = _batch_threads.get()
    if batch is not None:
        batch.made[message_id] = conversation


def may_have_pending_parents(parsed: ParsedMail, *, channel: Channel, skip: set[int]) -> bool:
    """False when the batch read every parent Message-ID of this mail and none was pending but those in `skip`
    (the mail itself, what the batch processed): no need to ask the database. True when it must ask."""
    batch = _batch_threads.get()
    ids = parent_ids(parsed)
    if batch is None or batch.channel_id != channel.pk or not set(ids) <= batch.looked_up:
        return True
    return any(event_id not in skip for message_id in ids for event_id in batch.pending.get(message_id, ()))


def _references(ids: list[str], channel: Channel) -> dict[str, Conversation]:
    batch = _batch_threads.get()
    if batch is None or batch.channel_id != channel.pk:
        found: dict[str, Conversation] = {}
    elif set(ids) <= batch.looked_up:
        found = {message_id: batch.references[message_id] for message_id in ids if message_id in batch.references}
        return {**{m: batch.made[m] for m in ids if m in batch.made}, **found}
    else:
        found = {m: batch.made[m] for m in ids if m in batch.made}
    references = MessageReference.objects.filter(message_id__in=ids, conversation__channel=channel).select_related(
        "conversation"
    )
    return {**found, **{reference.message_id: reference.conversation for reference in references}}


def find_thread(parsed: ParsedMail, *, channel: Channel) -> Thread | None:
    """The conversation of `channel` (an email channel) that the mail's markers point at, if any."""
    recipients = " ".join([*parsed.to, *parsed.cc, parsed.header("delivered-to"), parsed.header("x-original-to")])
    for token in TOKEN_RE.findall(recipients[:10000]):
        conversation_id = conversation_id_from_token(token)
        if conversation_id is not None:
            conversation = Conversation.objects.filter(channel=channel, pk=conversation_id).first()
            if conversation is not None:
                return Thread(conversation, "token")
    for ids, by in thread_ids(parsed):
        if not ids:
            continue
        by_id = _references(ids, channel)
        for message_id in ids:
            if message_id in by_id:
                return Thread(by_id[message_id], by)
    conversation_id = conversation_id_from_subject(parsed.subject)
    if conversation_id is not None:
        conversation = Conversation.objects.filter(channel=channel, pk=conversation_id).first()
        if conversation is not None:
            return Thread(conversation, "subject")
    return None
