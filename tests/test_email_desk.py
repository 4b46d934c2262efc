"""How Alice sees an email in the desk: sanitized HTML in a sandboxed frame, remote images on request, quoted text
collapsed, attachments downloadable by those who may see the conversation, and unknown senders flagged."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Browser, Dialog, expect

from interactions import inbound
from interactions.mail.services import record_raw_mail
from interactions.models import Attachment, Channel, Interaction
from routing.models import Queue
from tests.clients import logged_in
from tests.conftest import PASSWORD
from tests.mail_support import fixture_bytes
from tests.stack import Stack, free_port, wait_until

pytestmark = [pytest.mark.mailbox(attachment_max_bytes=1024 * 1024), pytest.mark.usefixtures("media_root")]


def received(channel: Channel, raw: bytes) -> Interaction:
    event, _created = record_raw_mail(channel=channel, raw=raw, source="test")
    interaction = inbound.process_inbound_event(event_id=event.pk)
    if interaction is None:  # a live worker (stack tests) took it first
        stored = Interaction.objects.filter(channel=channel, external_id=event.external_id)
        wait_until(stored.exists, timeout=15, message="the worker to process the mail")
        interaction = stored.get()
    return interaction


def conversation_page(client: Client, interaction: Interaction) -> str:
    response = client.get(f"/desk/conversations/{interaction.conversation_id}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_it_shows_sanitized_html_in_a_sandboxed_frame_without_remote_images(mailbox: Channel, alice: Any) -> None:
    interaction = received(mailbox, fixture_bytes("script_onerror.eml"))

    page = conversation_page(logged_in("alice"), interaction)

    frame = re.search(r"<iframe ([^>]*)>", page)
    assert frame is not None
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame.group(1)
    assert 'title="Email content"' in frame.group(1)
    srcdoc = frame.group(1).split('srcdoc="', 1)[1]
    assert "Hello &lt;b&gt;agent&lt;/b&gt;" in srcdoc
    assert "tracker.example" not in srcdoc and "script" not in srcdoc and "onerror" not in srcdoc
    assert "Subject:</strong> Please look at this" in page
    assert ">Load remote images</button>" in page


@pytest.mark.django_db
def test_it_loads_remote_images_only_when_the_agent_asks(mailbox: Channel, alice: Any) -> None:
    interaction = received(mailbox, fixture_bytes("script_onerror.eml"))

    response = logged_in("alice").get(f"/desk/email/{interaction.pk}/body/?remote=1", headers={"HX-Request": "true"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "https://tracker.example/pixel.gif?u=42" in body
    assert "Load remote images" not in body and "onerror" not in body


@pytest.mark.django_db
def test_it_collapses_the_quoted_part_of_a_reply(mailbox: Channel, alice: Any) -> None:
    interaction = received(mailbox, fixture_bytes("outlook_reply.eml"))

    page = conversation_page(logged_in("alice"), interaction)

    shown, quoted = page.split("<summary>Show quoted text</summary>")
    assert "the parcel still hasn’t arrived" in shown.replace("&#x27;", "'")
    assert "We shipped your order on Friday." in quoted
    assert "We shipped your order on Friday." not in shown.split(f'id="interaction-{interaction.pk}"')[1]


@pytest.mark.django_db
def test_it_lists_attachments_and_notes_the_omitted_ones(mailbox: Channel, alice: Any) -> None:
    stored = received(mailbox, fixture_bytes("pdf_attachment.eml"))
    big = received(mailbox, fixture_bytes("huge_attachment.eml"))
    client = logged_in("alice")

    attachment = Attachment.objects.get(interaction=stored)
    assert f'href="/desk/attachments/{attachment.pk}/">receipt.pdf</a>' in conversation_page(client, stored)
    assert 'problem.mp4 — <span class="omitted">Attachment omitted' in conversation_page(client, big)
    download = client.get(f"/desk/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 receipt of order 1042"  # type: ignore[attr-defined]
    assert download["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_it_shows_inline_images_from_our_own_attachment_url(mailbox: Channel, alice: Any) -> None:
    interaction = received(mailbox, fixture_bytes("inline_image.eml"))
    image = Attachment.objects.get(interaction=interaction, content_id="screenshot-1@example.com")

    page = conversation_page(logged_in("alice"), interaction)

    assert f"src=&quot;/desk/attachments/{image.pk}/&quot;" in page
    assert "cid:" not in page


@pytest.mark.django_db
def test_it_shows_emails_and_attachments_to_agents_of_other_teams_unless_confidential(
    mailbox: Channel, alice: Any, oscar: Any
) -> None:
    """Issue 11 changed this test (it was: 404 for another team): every active agent sees a customer's messages on
    every channel; a confidential queue's stay hidden (404) from non-members."""
    interaction = received(mailbox, fixture_bytes("pdf_attachment.eml"))
    attachment = Attachment.objects.get(interaction=interaction)
    client = logged_in("oscar")

    assert client.get(f"/desk/attachments/{attachment.pk}/").status_code == 200
    assert client.get(f"/desk/email/{interaction.pk}/body/?remote=1").status_code == 200
    Queue.objects.filter(pk=mailbox.queue_id).update(confidential=True)
    assert client.get(f"/desk/attachments/{attachment.pk}/").status_code == 404
    assert client.get(f"/desk/email/{interaction.pk}/body/?remote=1").status_code == 404


@pytest.mark.django_db
def test_it_flags_a_refused_thread_and_automatic_mail(mailbox: Channel, alice: Any) -> None:
    first = received(mailbox, fixture_bytes("new_request.eml"))
    raw = fixture_bytes("unknown_sender_reply.eml").replace(b"<reply-1@omnidesk.test>", b"<first-1@example.com>")
    stranger = received(mailbox, raw)
    automatic = received(mailbox, fixture_bytes("auto_reply.eml").replace(b"In-Reply-To", b"X-Old-In-Reply-To"))
    assert stranger.conversation_id != first.conversation_id, "Bob's mail is his own case, not Carla's"

    page = conversation_page(logged_in("alice"), stranger)
    assert "refers to an earlier case but was not added to it" in page
    automatic_page = conversation_page(logged_in("alice"), automatic)
    assert "Automatic message (Auto-Submitted: auto-replied): no acknowledgement was sent." in automatic_page


class PixelServer:
    """A sender's web server: records who fetches its tracking pixel."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def pixel_server() -> Iterator[PixelServer]:
    server = PixelServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_never_runs_the_emails_scripts_and_fetches_remote_images_only_on_request(
    stack: Stack, browser: Browser, mailbox: Channel, alice: Any, pixel_server: PixelServer
) -> None:
    raw = fixture_bytes("script_onerror.eml").replace(
        b"https://tracker.example/pixel.gif", f"http://127.0.0.1:{pixel_server.port}/pixel.gif".encode()
    )
    interaction = received(mailbox, raw)
    page = browser.new_context().new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{stack.base_url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{stack.base_url}/desk/conversations/{interaction.conversation_id}/")

    email = page.frame_locator("iframe[title='Email content']")
    expect(email.get_by_text("my order")).to_be_visible()
    page.wait_for_timeout(500)
    assert pixel_server.hits == [], "opening the email told its sender nothing"

    page.get_by_role("button", name="Load remote images").click()
    expect(page.get_by_role("button", name="Load remote images")).to_have_count(0)
    wait_until(lambda: pixel_server.hits == ["/pixel.gif?u=42"], timeout=10, message="the pixel to be fetched")
    assert dialogs == [], "no script of the email ran"
