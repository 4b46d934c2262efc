"""`manage.py ingest_email`: archives (.eml files, mbox, maildir) become stored inbound mail, once."""

from __future__ import annotations

import mailbox
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from interactions import inbound
from interactions.models import Channel, InboundEvent, Interaction
from routing.models import Queue
from tests.mail_support import FIXTURES, email_channel, fixture_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive_channel(support_queue: Queue) -> Channel:
    return email_channel(support_queue)


def ingest(*args: str) -> str:
    out = StringIO()
    call_command("ingest_email", *args, stdout=out)
    return out.getvalue()


def test_it_ingests_eml_files_mbox_and_maildir_and_nothing_twice(archive_channel: Channel, tmp_path: Path) -> None:
    archive = mailbox.mbox(tmp_path / "archive.mbox")
    for name in ("iso_8859_1.eml", "shift_jis.eml"):
        archive.add(fixture_bytes(name))
    archive.flush()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for name in ("html_only.eml", "windows_1252.eml", "utf8_base64.eml"):
        maildir.add(fixture_bytes(name))

    output = ingest(
        str(archive_channel.pk),
        str(FIXTURES / "new_request.eml"),
        str(tmp_path / "archive.mbox"),
        str(tmp_path / "Maildir"),
    )
    again = ingest(archive_channel.name, str(tmp_path / "archive.mbox"))

    assert output.strip() == "6 messages read, 6 stored, 0 already stored"
    assert again.strip() == "2 messages read, 0 stored, 2 already stored"
    for event_id in InboundEvent.objects.values_list("pk", flat=True):
        inbound.process_inbound_event(event_id=event_id)
    subjects = set(Interaction.objects.values_list("meta__subject", flat=True))
    assert subjects == {
        "Order 1042",
        "Commande non reçue",
        "注文について",
        "HTML only",
        "Facture",
        "Problème de connexion 🔒",
    }


def test_it_ingests_a_folder_of_eml_files(archive_channel: Channel) -> None:
    output = ingest(str(archive_channel.uuid), str(FIXTURES))
    count = len(list(FIXTURES.glob("*.eml")))
    assert output.strip() == f"{count} messages read, {count} stored, 0 already stored"


def test_it_refuses_an_unknown_channel_or_path(archive_channel: Channel, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no email channel"):
        ingest("Nope", str(FIXTURES / "new_request.eml"))
    with pytest.raises(CommandError, match="does not exist"):
        ingest(str(archive_channel.pk), str(tmp_path / "missing.eml"))


def test_it_stores_a_maildir_oldest_first_so_replies_thread(archive_channel: Channel, tmp_path: Path) -> None:
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    later = b"Date: Tue, 01 Dec 2026 10:00:00 +0100"
    maildir.add(fixture_bytes("follow_up_references.eml").replace(b"Date: Tue, 01 Dec 2026 09:12:33 +0100", later))
    maildir.add(fixture_bytes("new_request.eml"))

    ingest(str(archive_channel.pk), str(tmp_path / "Maildir"))

    for event_id in InboundEvent.objects.order_by("pk").values_list("pk", flat=True):
        inbound.process_inbound_event(event_id=event_id)
    first = Interaction.objects.get(external_id="first-1@example.com")
    reply = Interaction.objects.get(external_id="second-1@example.com")
    assert first.pk < reply.pk
    assert reply.conversation_id == first.conversation_id
