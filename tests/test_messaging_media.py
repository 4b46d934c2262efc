"""Media of inbound messages are fetched by a task only from the providers' hosts, within a size cap (no SSRF)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from interactions.messaging import media, meta, telegram, twilio
from interactions.models import Attachment, Channel
from routing.models import Queue
from tests.messaging_support import (
    FakeProvider,
    ingest,
    json_reply,
    make_channel,
    running_provider,
    telegram_update,
    twilio_sms,
    whatsapp_envelope,
)

PHOTO = b"\xff\xd8\xff\xe0" + b"jpeg bytes" * 100


@pytest.fixture
def provider(settings: Any, tmp_path: Path) -> Iterator[FakeProvider]:
    with running_provider() as server:
        settings.OMNIDESK_MEDIA_ALLOWED_HOSTS = [server.host]
        settings.MEDIA_ROOT = tmp_path
        server.media["photo.jpg"] = PHOTO
        yield server


def twilio_mms(channel: Channel, url: str) -> Attachment:
    params = twilio_sms("SM-MMS", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    [message] = ingest(channel, "twilio", twilio.events_from_params(params))
    return message.attachments.get()


def test_it_fetches_a_twilio_media_file_with_the_accounts_credentials(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    attachment = media.fetch_attachment(attachment_id=twilio_mms(channel, f"{provider.url}/files/photo.jpg").pk)
    assert attachment.file.read() == PHOTO and attachment.size == len(PHOTO)
    assert provider.requests[-1].headers["authorization"].startswith("Basic ")


def test_it_never_fetches_from_a_host_that_is_not_the_providers(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    attachment = twilio_mms(channel, "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    attachment = media.fetch_attachment(attachment_id=attachment.pk)
    assert not attachment.file and "169.254.169.254 is not a host of the provider" in attachment.omitted_reason
    assert provider.requests == []


def test_it_does_not_follow_a_redirect_to_another_host(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    provider.route("GET", r"/files/redirect", lambda r, m: (302, {"Location": "http://127.0.0.2:6379/"}, b""))
    attachment = media.fetch_attachment(attachment_id=twilio_mms(channel, f"{provider.url}/files/redirect").pk)
    assert not attachment.file and "127.0.0.2:6379 is not a host" in attachment.omitted_reason


def test_it_keeps_only_the_metadata_of_a_file_over_the_size_cap(
    alice: Any, support_queue: Queue, provider: FakeProvider, settings: Any
) -> None:
    settings.OMNIDESK_MEDIA_MAX_BYTES = 1024 * 1024
    provider.media["huge.mp4"] = b"\0" * (1024 * 1024 + 1)
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    attachment = media.fetch_attachment(attachment_id=twilio_mms(channel, f"{provider.url}/files/huge.mp4").pk)
    assert not attachment.file and attachment.omitted_reason == "Not stored: larger than 1 MB."
    assert attachment.content_type == "image/jpeg"


def test_it_resolves_a_whatsapp_media_id_then_downloads_it_with_the_token(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    provider.media["media-77"] = PHOTO
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    image = {
        "from": "33612345678",
        "id": "wamid.P",
        "type": "image",
        "image": {"id": "media-77", "mime_type": "image/jpeg"},
    }
    [message] = ingest(channel, "meta", meta.events_from_body(whatsapp_envelope(messages=[image])))
    attachment = media.fetch_attachment(attachment_id=message.attachments.get().pk)
    assert attachment.file.read() == PHOTO
    lookup, download = provider.requests
    assert (lookup.path, download.path) == ("/media-77", "/files/media-77")
    assert download.headers["authorization"] == "Bearer meta-access"


def test_it_fetches_a_telegram_photo_through_getfile(alice: Any, support_queue: Queue, provider: FakeProvider) -> None:
    provider.media["photos/file_1.jpg"] = PHOTO
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue, api_base=provider.url)
    update = telegram_update(
        9, text="", photo=[{"file_id": "photos/file_1.jpg", "file_unique_id": "u", "file_size": 1}]
    )
    [message] = ingest(channel, "telegram", telegram.events_from_update(update))
    attachment = media.fetch_attachment(attachment_id=message.attachments.get().pk)
    assert attachment.file.read() == PHOTO


def test_it_retries_a_media_host_that_is_down_for_now(alice: Any, support_queue: Queue, provider: FakeProvider) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    attachment = twilio_mms(channel, f"{provider.url}/files/photo.jpg")
    provider.route("GET", r"/files/photo\.jpg", lambda r, m: json_reply({"message": "busy"}, 503))
    from interactions.outbound import TransientDeliveryError

    with pytest.raises(TransientDeliveryError):
        media.fetch_attachment(attachment_id=attachment.pk)
    attachment.refresh_from_db()
    assert not attachment.file and not attachment.omitted_reason


def test_it_serves_a_stored_file_only_to_agents_who_may_see_the_conversation(
    alice: Any, oscar: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    attachment = media.fetch_attachment(attachment_id=twilio_mms(channel, f"{provider.url}/files/photo.jpg").pk)
    url = f"/desk/attachments/{attachment.pk}/"
    as_alice, as_oscar = Client(), Client()
    as_alice.force_login(alice)
    as_oscar.force_login(oscar)
    answer = as_alice.get(url)
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == PHOTO  # type: ignore[attr-defined]
    assert answer["Content-Disposition"].startswith("attachment")
    # Issue 11 changed this test (it was 404): another team's agent may see the file; not a confidential queue's.
    shown = as_oscar.get(url)
    assert shown.status_code == 200 and b"".join(shown.streaming_content) == PHOTO  # type: ignore[attr-defined]
    Queue.objects.filter(pk=support_queue.pk).update(confidential=True)
    assert as_oscar.get(url).status_code == 404
