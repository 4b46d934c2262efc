"""Files in the composer (issue 15, item 6): limits, the scanner hook, channels that cannot carry files, and the file
arriving at the local SMTP server as an attachment, at the WhatsApp, Messenger and Telegram fakes as media, and at the
website visitor as a signed download link."""

from __future__ import annotations

import email.policy
import re
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from interactions.models import Attachment, Channel, Conversation, Interaction
from interactions.outbound import deliver_interaction
from routing.models import Queue
from tests import mail_support
from tests.clients import logged_in
from tests.factories import widget_message
from tests.mail_support import SmtpServer
from tests.messaging_support import FakeProvider, Recorded, json_reply, make_channel, running_provider
from tests.test_email_outbound import carla_writes
from tests.test_messaging_outbound import conversation_on

pytestmark = pytest.mark.usefixtures("media_root")


smtp_server = mail_support.smtp_server
PDF = b"%PDF-1.4 the invoice of March\n%%EOF\n"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_provider() as server:
        uploads = iter(range(1, 100))
        server.route("POST", r"/(\d+)/media", lambda r, m: json_reply({"id": f"media-up-{next(uploads)}"}))
        server.route("POST", r"/([\w.-]+)/message_attachments", lambda r, m: json_reply({"attachment_id": "att-1"}))
        server.route(
            "POST",
            r"/bot([^/]+)/sendDocument",
            lambda r, m: json_reply({"ok": True, "result": {"message_id": 77, "chat": {"id": 4242}}}),
        )
        yield server


def send_from_composer(conversation: Conversation, *files: SimpleUploadedFile, text: str = "Voici la facture.") -> Any:
    return logged_in("alice").post(
        f"/desk/conversations/{conversation.pk}/reply/",
        {"text": text, "files": list(files)},
        HTTP_HX_REQUEST="true",
    )


def invoice(name: str = "facture-mars.pdf", data: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def sent_reply(conversation: Conversation) -> Interaction:
    return Interaction.objects.get(conversation=conversation, direction=Interaction.Direction.OUTBOUND)


def multipart_file(request: Recorded, field: str) -> tuple[str, bytes]:
    """The file name and bytes of a multipart field, as the provider receives them."""
    content_type = request.headers["content-type"]
    message = message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body, policy=email.policy.HTTP
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == field:
            return str(part.get_filename()), bytes(part.get_payload(decode=True))
    raise AssertionError(f"no {field} in the upload")


@pytest.mark.django_db
def test_it_sends_a_file_from_the_composer_to_the_smtp_server_as_an_attachment(
    alice: Any, support_queue: Queue, smtp_server: SmtpServer
) -> None:
    mailbox = mail_support.email_channel(support_queue, smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    conversation = carla_writes(mailbox).conversation
    response = send_from_composer(conversation, invoice())
    assert response.status_code == 200
    assert "facture-mars.pdf" in response.content.decode()  # the timeline entry lists the file, with its link

    deliver_interaction(interaction_id=sent_reply(conversation).pk)  # what the delivery task does after commit

    (message,) = smtp_server.messages
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == "facture-mars.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == PDF
    assert "Voici la facture." in str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


@pytest.mark.django_db
def test_it_uploads_a_file_to_whatsapp_and_sends_it_as_media_with_the_text_as_caption(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    conversation = conversation_on(channel).conversation
    assert send_from_composer(conversation, invoice()).status_code == 200
    sent = deliver_interaction(interaction_id=sent_reply(conversation).pk)

    [upload] = provider.sent(r"/1065550001/media")
    assert upload.headers["authorization"] == "Bearer meta-access"
    assert multipart_file(upload, "file") == ("facture-mars.pdf", PDF)
    [message] = provider.sent(r"/1065550001/messages")
    assert message.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "33612345678",
        "type": "document",
        "document": {"id": "media-up-1", "filename": "facture-mars.pdf", "caption": "Voici la facture."},
    }
    assert (sent.status, str(sent.external_id).startswith("wamid.")) == (Interaction.Status.SENT, True)


@pytest.mark.django_db
def test_it_sends_files_to_messenger_and_telegram(alice: Any, support_queue: Queue, provider: FakeProvider) -> None:
    messenger = make_channel(Channel.Kind.MESSENGER, support_queue, api_base=provider.url)
    conversation = conversation_on(messenger).conversation
    assert send_from_composer(conversation, invoice()).status_code == 200
    deliver_interaction(interaction_id=sent_reply(conversation).pk)
    [upload] = provider.sent(r"/message_attachments")
    assert multipart_file(upload, "filedata") == ("facture-mars.pdf", PDF)
    attachment_message, text_message = provider.sent(r"/messages$")
    assert attachment_message.json["message"] == {"attachment": {"type": "file", "payload": {"attachment_id": "att-1"}}}
    assert text_message.json["message"] == {"text": "Voici la facture."}

    telegram = make_channel(Channel.Kind.TELEGRAM, support_queue, api_base=provider.url)
    conversation = conversation_on(telegram).conversation
    assert send_from_composer(conversation, invoice()).status_code == 200
    sent = deliver_interaction(interaction_id=sent_reply(conversation).pk)
    [document] = provider.sent(r"/sendDocument")
    assert multipart_file(document, "document") == ("facture-mars.pdf", PDF)
    assert sent.external_id == "4242:77"


@pytest.mark.django_db
def test_it_refuses_an_oversize_or_forbidden_file_with_the_reason(
    alice: Any, chat_channel: Channel, settings: Any
) -> None:
    settings.OMNIDESK_UPLOAD_MAX_BYTES = 20
    conversation = widget_message(chat_channel).conversation
    too_big = send_from_composer(conversation, invoice())
    assert too_big.status_code == 422
    assert "“facture-mars.pdf” is too large (36\xa0bytes; at most 20\xa0bytes)." in too_big.content.decode()
    forbidden = send_from_composer(conversation, SimpleUploadedFile("setup.exe", b"MZ", content_type="application/pdf"))
    assert forbidden.status_code == 422
    assert "“setup.exe” is not an allowed type of file (application/x-msdos-program)." in forbidden.content.decode()
    assert not Interaction.objects.filter(direction=Interaction.Direction.OUTBOUND).exists()
    assert not Attachment.objects.exists()


def reject_eicar(*, name: str, content_type: str, data: bytes) -> None:
    """A scanner that finds the EICAR test signature."""
    if b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in data:
        raise ValidationError(f"“{name}” was refused by the virus scanner.")


@pytest.mark.django_db
def test_it_refuses_a_file_the_scanner_rejects(alice: Any, chat_channel: Channel, settings: Any) -> None:
    settings.OMNIDESK_UPLOAD_SCANNER = "tests.test_agent_composer_files.reject_eicar"
    conversation = widget_message(chat_channel).conversation
    infected = SimpleUploadedFile(
        "readme.txt", b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    )
    response = send_from_composer(conversation, infected)
    assert response.status_code == 422
    assert "“readme.txt” was refused by the virus scanner." in response.content.decode()
    assert send_from_composer(conversation, SimpleUploadedFile("notes.txt", b"clean")).status_code == 200


@pytest.mark.django_db
def test_it_refuses_files_on_sms_and_says_why(alice: Any, support_queue: Queue) -> None:
    with running_provider() as provider:
        sms = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
        conversation = conversation_on(sms).conversation
    response = send_from_composer(conversation, invoice())
    assert response.status_code == 422
    assert "SMS cannot carry files (no MMS on this number)" in response.content.decode()
    assert not Interaction.objects.filter(direction=Interaction.Direction.OUTBOUND).exists()


@pytest.mark.django_db
def test_it_gives_the_website_visitor_a_signed_download_link(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    assert send_from_composer(conversation, invoice()).status_code == 200
    reply = sent_reply(conversation)
    [link] = re.findall(r"📎 facture-mars\.pdf: (http://testserver/widget/files/\S+/)", reply.text)
    visitor = logged_in("alice").__class__()  # a browser with no session
    download = visitor.get(link.removeprefix("http://testserver"))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF  # type: ignore[attr-defined]
    assert 'filename="facture-mars.pdf"' in download["Content-Disposition"]
    assert visitor.get(link.removeprefix("http://testserver")[:-3] + "xx/").status_code == 404
    # The agent's timeline lists the file, downloadable through the permission-checked view.
    page = logged_in("alice").get(f"/desk/conversations/{conversation.pk}/").content.decode()
    assert f'href="/desk/attachments/{reply.attachments.get().pk}/"' in page
