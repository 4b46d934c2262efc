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
from dataclasses import dataclass

from django.conf import settings

from interactions.mail.models import MessageReference
from interactions.mail.parsing import ParsedMail
from interactions.models import Channel, Conversation

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


def find_thread(parsed: ParsedMail, *, channel: Channel) -> Thread | None:
    """The conversation of `channel` (an email channel) that the mail's markers point at, if any."""
    conversations = Conversation.objects.filter(channel=channel)
    recipients = " ".join([*parsed.to, *parsed.cc, parsed.header("delivered-to"), parsed.header("x-original-to")])
    for token in TOKEN_RE.findall(recipients[:10000]):
        conversation_id = conversation_id_from_token(token)
        if conversation_id is not None:
            conversation = conversations.filter(pk=conversation_id).first()
            if conversation is not None:
                return Thread(conversation, "token")
    for ids, by in ((parsed.in_reply_to, "in-reply-to"), (list(reversed(parsed.references)), "references")):
        if not ids:
            continue
        references = MessageReference.objects.filter(
            message_id__in=ids[:50], conversation__channel=channel
        ).select_related("conversation")
        by_id = {reference.message_id: reference.conversation for reference in references}
        for message_id in ids[:50]:
            if message_id in by_id:
                return Thread(by_id[message_id], by)
    conversation_id = conversation_id_from_subject(parsed.subject)
    if conversation_id is not None:
        conversation = conversations.filter(pk=conversation_id).first()
        if conversation is not None:
            return Thread(conversation, "subject")
    return None
