"""What the desk shows of an email interaction: read from the stored interaction, never from the raw message."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from interactions.mail import sanitize
from interactions.models import Interaction


def email_view(interaction: Interaction, *, remote_images: bool = False) -> dict[str, Any]:
    meta = interaction.meta or {}
    attachments = list(interaction.attachments.all())
    inline_urls = {
        a.content_id.lower(): reverse("desk:attachment", args=[a.pk]) for a in attachments if a.content_id and a.file
    }
    latest = meta.get("latest_reply") or ""
    text = interaction.text
    quoted = text[len(latest) :].strip() if latest and text.startswith(latest) else (text if latest else "")
    return {
        "subject": meta.get("subject", ""),
        "from": meta.get("from", ""),
        "html": sanitize.display_html(interaction.html, inline_urls=inline_urls, remote_images=remote_images)
        if interaction.html
        else "",
        "has_remote_images": bool(interaction.html)
        and not remote_images
        and sanitize.has_remote_images(interaction.html),
        "remote_images": remote_images,
        "latest_reply": latest or text,
        "quoted": quoted,
        "attachments": [a for a in attachments if not (a.content_id and a.file and a.content_id.lower() in inline_urls)]
        if interaction.html
        else attachments,
        "unknown_sender": meta.get("unknown_sender"),
        "automatic": meta.get("automatic", ""),
        "problems": [*trust_notes(meta), *meta.get("problems", [])],
    }


def trust_notes(meta: dict[str, Any]) -> list[str]:
    """What the agent must know before believing who wrote this email (shown with the email's problems)."""
    notes: list[str] = []
    if meta.get("sender_unverified"):
        notes.append(
            _("Unverified sender: the domain of %(address)s says it did not send this email (DMARC failed).")
            % {"address": meta.get("from_address", "")}
        )
    if meta.get("thread_refused"):
        notes.append(
            _("This email refers to an earlier case but was not added to it: its sender is not that case's customer.")
        )
    if meta.get("too_large"):
        notes.append(_("This email was too large to download; only its headers were kept."))
    return notes
