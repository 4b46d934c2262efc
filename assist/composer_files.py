"""Files attached from the desk's composer (issue 15, item 6).

A reply with files is refused, with the reason, when a file is too large (OMNIDESK_UPLOAD_MAX_BYTES), of a type not
allowed (OMNIDESK_UPLOAD_ALLOWED_TYPES; the type is read from the file name, never taken from the browser), refused
by the scanner hook (OMNIDESK_UPLOAD_SCANNER), or when the reply's channel cannot carry files (SMS without MMS,
phone, API). Otherwise the reply and its Attachment rows are written in one transaction, so the delivery task, which
runs after commit, always finds the files: email attaches them (mail/outgoing.build_message), WhatsApp, Messenger and
Telegram upload them as media (assist/media_senders.py), and the website chat shows the visitor a download link
signed for that file only.

The scanner hook: a dotted path to a callable `scan(*, name: str, content_type: str, data: bytes) -> None` that raises
ValidationError (its message is shown to the agent) to refuse a file. The default, `scan_nothing`, accepts every file:
deployments that need scanning point the setting at a function that calls their scanner (clamd, an HTTP service…).
"""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from interactions import services
from interactions.models import Attachment, Channel, Conversation, Interaction

MAX_FILES = 5
WIDGET_LINK_SALT = "omnidesk.widget-file"
WIDGET_LINK_MAX_AGE = 7 * 24 * 3600
# Kinds whose senders carry files. Twilio (SMS/MMS, WhatsApp) needs a public media URL, which omnidesk does not serve.
MEDIA_KINDS = {
    Channel.Kind.EMAIL,
    Channel.Kind.CHAT,
    Channel.Kind.WHATSAPP,
    Channel.Kind.MESSENGER,
    Channel.Kind.TELEGRAM,
}


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    data: bytes


def scan_nothing(*, name: str, content_type: str, data: bytes) -> None:
    """The default scanner hook: accepts every file (no scanner is configured)."""


def scanner() -> Callable[..., None]:
    scan: Callable[..., None] = import_string(settings.OMNIDESK_UPLOAD_SCANNER)
    return scan


def media_refusal(channel: Channel) -> str | None:
    """Why `channel` cannot carry files, or None when it can."""
    if channel.kind == Channel.Kind.WHATSAPP and channel.config.get("provider") == "twilio":
        return _("This WhatsApp number (through Twilio) cannot send files from the desk: send a link instead.")
    if channel.kind in MEDIA_KINDS:
        return None
    if channel.kind == Channel.Kind.SMS:
        return _("SMS cannot carry files (no MMS on this number): send a link instead, or reply on another channel.")
    if channel.kind == Channel.Kind.VOICE:
        return _("A phone channel cannot carry files: reply on another channel.")
    return _("The %(channel)s channel cannot carry files.") % {"channel": channel.get_kind_display()}


def check_file(upload: UploadedFile) -> CheckedFile:
    """The file's name, type and bytes, or ValidationError saying why it is refused."""
    name = (upload.name or "file").replace("\\", "/").rsplit("/", 1)[-1][:200] or "file"
    limit = settings.OMNIDESK_UPLOAD_MAX_BYTES
    if (upload.size or 0) > limit:
        raise ValidationError(
            _("“%(name)s” is too large (%(size)s; at most %(limit)s).")
            % {"name": name, "size": filesizeformat(upload.size or 0), "limit": filesizeformat(limit)},
            code="file_too_large",
        )
    content_type = mimetypes.guess_type(name)[0] or ""
    if content_type not in settings.OMNIDESK_UPLOAD_ALLOWED_TYPES:
        raise ValidationError(
            _("“%(name)s” is not an allowed type of file (%(type)s).")
            % {"name": name, "type": content_type or _("unknown")},
            code="file_type",
        )
    data = upload.read(limit + 1)
    if len(data) > limit:  # the declared size lied
        raise ValidationError(_("“%(name)s” is too large.") % {"name": name}, code="file_too_large")
    scanner()(name=name, content_type=content_type, data=data)
    return CheckedFile(name, content_type, data)


def check_files(*, channel: Channel, uploads: Sequence[UploadedFile]) -> list[CheckedFile]:
    if not uploads:
        return []
    refusal = media_refusal(channel)
    if refusal:
        raise ValidationError(refusal, code="channel_without_media")
    if len(uploads) > MAX_FILES:
        raise ValidationError(
            _("Attach at most %(count)d files to one reply.") % {"count": MAX_FILES}, code="too_many_files"
        )
    return [check_file(upload) for upload in uploads]


def widget_file_token(key: str) -> str:
    return signing.dumps(key, salt=WIDGET_LINK_SALT)


def attachment_for_widget_token(token: str) -> Attachment | None:
    """The file a visitor's link names, if the link is genuine and recent and the file went out on the website chat.
    The link is made before the reply exists (it is part of the text the visitor receives), so it signs a random key
    that the reply's details map to its attachment."""
    try:
        key = signing.loads(token, salt=WIDGET_LINK_SALT, max_age=WIDGET_LINK_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(key, str):
        return None
    interaction = Interaction.objects.filter(
        direction=Interaction.Direction.OUTBOUND, channel__kind=Channel.Kind.CHAT, meta__widget_files__has_key=key
    ).first()
    if interaction is None:
        return None
    return interaction.attachments.filter(pk=interaction.meta["widget_files"][key]).exclude(file="").first()


def reply_with_files(
    *,
    conversation: Conversation,
    author: Any,
    text: str,
    channel: Channel | None,
    uploads: Sequence[UploadedFile],
    link_base: str = "",
) -> Interaction:
    """The agent's reply with its files, checked first (nothing is stored if one is refused). Without text, the file
    names are the message. On the website chat, the text ends with a download link per file for the visitor
    (`link_base`: this site's absolute root, e.g. "https://desk.example.com")."""
    reply_channel = channel or conversation.channel
    files = check_files(channel=reply_channel, uploads=uploads)
    if not files:
        return services.reply_to_conversation(conversation=conversation, author=author, text=text, channel=channel)
    text = text if isinstance(text, str) and text.strip() else "\n".join(f"📎 {f.name}" for f in files)
    keys = [secrets.token_urlsafe(12) for _file in files]
    if reply_channel.kind == Channel.Kind.CHAT:
        links = [
            f"📎 {checked.name}: {link_base.rstrip('/')}{reverse('widget-file', args=[widget_file_token(key)])}"
            for checked, key in zip(files, keys, strict=True)
        ]
        text = f"{text}\n" + "\n".join(links)
    with transaction.atomic():
        interaction = services.reply_to_conversation(
            conversation=conversation, author=author, text=text, channel=channel
        )
        stored = {}
        for checked, key in zip(files, keys, strict=True):
            attachment = Attachment(
                interaction=interaction,
                filename=checked.name,
                content_type=checked.content_type,
                size=len(checked.data),
            )
            attachment.file.save(checked.name, ContentFile(checked.data), save=False)
            attachment.save()
            stored[key] = attachment.pk
        # `media` makes the desk's timeline list the files; `widget_files` maps the visitor's links to them.
        interaction.meta = {**interaction.meta, "media": [f.name for f in files], "widget_files": stored}
        interaction.save(update_fields=["meta"])
    return interaction
