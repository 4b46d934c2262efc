"""Which conversation an inbound mail belongs to, in this order: the reply token in a recipient address
(`support+<token>@…`), In-Reply-To, References, a `[#<conversation id>]` subject tag; otherwise none (a new one).

The reply token is signed, so it cannot be guessed; Message-IDs are only matched against mail we stored or sent; the
subject tag can be typed by anyone, which is why the processor flags a sender who is not the conversation's customer.
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
SUBJECT_TAG_RE = re.compile(r"\[#(\d{1,18})\]")


@dataclass(frozen=True)
class Thread:
    conversation: Conversation
    by: str  # "token" | "in-reply-to" | "references" | "subject"


def reply_token(conversation_id: int) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"omnidesk.mail.reply:{conversation_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"c{conversation_id}-{digest[:12]}"


def conversation_id_from_token(token: str) -> int | None:
    token = token.lower()
    try:
        conversation_id = int(token[1:].split("-", 1)[0])
    except ValueError:
        return None
    return conversation_id if hmac.compare_digest(reply_token(conversation_id), token) else None


def reply_address(channel: Channel, conversation_id: int) -> str:
    """The channel's address with the conversation's token as sub-address: support+c12-…@example.com."""
    address = channel_address(channel)
    local, _at, domain = address.partition("@")
    return f"{local}+{reply_token(conversation_id)}@{domain}"


def channel_address(channel: Channel) -> str:
    return str(channel.config.get("address") or settings.DEFAULT_FROM_EMAIL)


def subject_tag(conversation_id: int) -> str:
    return f"[#{conversation_id}]"


def find_thread(parsed: ParsedMail) -> Thread | None:
    recipients = " ".join([*parsed.to, *parsed.cc, parsed.header("delivered-to"), parsed.header("x-original-to")])
    for token in TOKEN_RE.findall(recipients):
        conversation_id = conversation_id_from_token(token)
        if conversation_id is not None:
            conversation = Conversation.objects.filter(pk=conversation_id).first()
            if conversation is not None:
                return Thread(conversation, "token")
    for ids, by in ((parsed.in_reply_to, "in-reply-to"), (list(reversed(parsed.references)), "references")):
        if not ids:
            continue
        references = MessageReference.objects.filter(message_id__in=ids).select_related("conversation")
        by_id = {reference.message_id: reference.conversation for reference in references}
        for message_id in ids:
            if message_id in by_id:
                return Thread(by_id[message_id], by)
    match = SUBJECT_TAG_RE.search(parsed.subject)
    if match:
        conversation = Conversation.objects.filter(pk=int(match.group(1))).first()
        if conversation is not None:
            return Thread(conversation, "subject")
    return None
