"""Fetching the files of inbound messages: only from the providers' hosts, within a size cap and a timeout.

A webhook only announces a file (a URL or a provider media id); a task fetches it later. A URL is fetched only if its
host is on OMNIDESK_MEDIA_ALLOWED_HOSTS, redirects included (each hop is checked, and credentials never follow a
redirect to another host): a forged or compromised payload cannot make the server fetch an internal address (SSRF).
A file over OMNIDESK_MEDIA_MAX_BYTES is not stored; its metadata stays, with the reason.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _

from interactions.messaging import http, meta, telegram
from interactions.models import Attachment, Channel
from interactions.outbound import DeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)
MAX_REDIRECTS = 3


class MediaRefused(Exception):
    """The file will not be fetched (host not allowed, too large, gone): the reason is kept on the attachment."""


def host_allowed(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        return False
    host = parts.hostname.lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    for allowed in settings.OMNIDESK_MEDIA_ALLOWED_HOSTS:
        allowed = allowed.lower()
        if allowed.startswith("*.") and host.endswith(allowed[1:]):
            return True
        if allowed in (host, netloc):
            return True
    return False


def download(url: str, *, headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None) -> bytes:
    """GET `url` following at most MAX_REDIRECTS allowed redirects; the body, up to the size cap."""
    limit = settings.OMNIDESK_MEDIA_MAX_BYTES
    origin = urlsplit(url).netloc
    for _hop in range(MAX_REDIRECTS + 1):
        if not host_allowed(url):
            raise MediaRefused(
                _("Not fetched: %(host)s is not a host of the provider.") % {"host": urlsplit(url).netloc}
            )
        same_host = urlsplit(url).netloc == origin
        request_kwargs: dict[str, Any] = {"headers": headers if same_host else None}
        if auth is not None and same_host:
            request_kwargs["auth"] = auth
        try:
            with http.client().stream("GET", url, **request_kwargs) as response:
                if response.is_redirect:
                    url = str(response.url.join(response.headers.get("location", "")))
                    continue
                if response.status_code == 429 or response.status_code >= 500:
                    raise TransientDeliveryError(f"media host answered {response.status_code}")
                if response.status_code >= 400:
                    raise MediaRefused(
                        _("Not fetched: the provider answered %(code)s.") % {"code": response.status_code}
                    )
                declared = int(response.headers.get("content-length") or 0)
                if declared > limit:
                    raise MediaRefused(too_large(limit))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise MediaRefused(too_large(limit))
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise TransientDeliveryError("media download timed out") from None
        except httpx.TransportError as error:
            raise TransientDeliveryError(f"media download failed ({type(error).__name__})") from None
    raise MediaRefused(_("Not fetched: too many redirects."))


def too_large(limit: int) -> str:
    return _("Not stored: larger than %(size)d MB.") % {"size": limit // (1024 * 1024) or 1}


def fetch_bytes(attachment: Attachment, channel: Channel) -> bytes:
    """Resolve the attachment's location with its provider, then download it."""
    provider = attachment.interaction.meta.get("provider", "")
    if provider == "twilio":
        auth = (str(channel.config.get("account_sid", "")), str(channel.secrets.get("auth_token", "")))
        return download(attachment.source_url, auth=auth)
    if provider == "meta" and attachment.content_id:
        bearer = {"Authorization": f"Bearer {channel.secrets.get('access_token', '')}"}
        try:
            info = http.call(
                "GET", f"{meta.graph_base(channel)}/{attachment.content_id}", provider="Meta", headers=bearer
            )
        except DeliveryError as error:
            raise MediaRefused(str(error)) from None
        size = int(info.get("file_size") or 0)
        if size > settings.OMNIDESK_MEDIA_MAX_BYTES:
            raise MediaRefused(too_large(settings.OMNIDESK_MEDIA_MAX_BYTES))
        return download(str(info.get("url", "")), headers=bearer)
    if provider == "telegram" and attachment.content_id:
        try:
            answer = http.call(
                "POST",
                telegram.bot_url(channel, "getFile"),
                provider="Telegram",
                json={"file_id": attachment.content_id},
            )
        except DeliveryError as error:
            raise MediaRefused(str(error)) from None
        file_path = str((answer.get("result") or {}).get("file_path", ""))
        base = telegram.bot_url(channel, "").rsplit("/bot", 1)[0]
        return download(f"{base}/file/bot{channel.secrets.get('bot_token', '')}/{file_path}")
    if attachment.source_url:
        return download(attachment.source_url)
    raise MediaRefused(_("Not fetched: the provider gave no location."))


def fetch_attachment(*, attachment_id: int) -> Attachment:
    """Store the file of an announced attachment once; raises TransientDeliveryError for the task to retry."""
    attachment = Attachment.objects.select_related("interaction__channel").get(pk=attachment_id)
    if attachment.file or attachment.omitted_reason:
        return attachment
    channel = attachment.interaction.channel
    try:
        content = fetch_bytes(attachment, channel)
    except MediaRefused as refused:
        record_omission(attachment=attachment, reason=str(refused))
        return attachment
    attachment.size = len(content)
    attachment.file.save(attachment.filename or "file", ContentFile(content), save=False)
    attachment.save(update_fields=["file", "size"])
    return attachment


def record_omission(*, attachment: Attachment, reason: str) -> None:
    logger.info("attachment %s not stored: %s", attachment.pk, reason)
    attachment.omitted_reason = reason[:255]
    attachment.save(update_fields=["omitted_reason"])
