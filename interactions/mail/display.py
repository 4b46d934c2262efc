"""What the desk shows of an email interaction: read from the stored interaction, never from the raw message."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

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
        "problems": meta.get("problems", []),
    }
