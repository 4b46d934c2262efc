"""Sophie erases Zoé, who wrote, called and was written about on every channel; then a generic sweep of every row of
every model and every file under MEDIA_ROOT finds no trace of her name, email, phone, recordings or files.

Before erasure, the export holds each of those items.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from customers import gdpr
from customers.models import Customer, ErasureRecord
from interactions.models import Attachment, Conversation, InboundEvent, Interaction
from interactions.phone.models import Call, Callback
from routing.models import Queue
from tests import gdpr_support, mail_support
from tests.clients import logged_in
from tests.gdpr_support import (
    EMAIL,
    MAIL_ATTACHMENT,
    MESSAGE_ID,
    NAME,
    PHONE,
    PHOTO,
    RECORDING,
    VOICEMAIL,
    Zoe,
    as_json,
    files_under_media_root,
    needles,
    traces_of,
    zoe_everywhere,
)
from tests.messaging_support import FakeProvider, running_provider

smtp_server = mail_support.smtp_server


@pytest.fixture
def provider(settings: Any, tmp_path: Path) -> Iterator[FakeProvider]:
    settings.MEDIA_ROOT = tmp_path / "media"
    with running_provider() as server:
        settings.OMNIDESK_MEDIA_ALLOWED_HOSTS = [server.host]
        yield server


@pytest.fixture
def zoe(
    support_queue: Queue, alice: Any, sophie: Any, provider: FakeProvider, smtp_server: mail_support.SmtpServer
) -> Zoe:
    return zoe_everywhere(queue=support_queue, agent=alice, supervisor=sophie, provider=provider, smtp=smtp_server)


def test_it_finds_her_everywhere_before_erasure(zoe: Zoe) -> None:
    """The sweep is only worth something if it sees her: every kind of trace is there before erasure."""
    traces = "\n".join(traces_of(needles()))
    for where in (
        "customers.Customer.display_name",
        "customers.Identity.address",
        "interactions.Interaction.text",
        "interactions.Interaction.html",
        "interactions.Interaction.meta",
        "interactions.Interaction.external_id",
        "interactions.Attachment.file",
        "interactions.InboundEvent.payload",
        "mail.MessageReference.message_id",
        "mail.Acknowledgement.address",
        "phone.Call.number",
        "phone.Call.raw_number",
        "phone.Call.recording_url",
        "phone.Call.notes",
        "phone.Callback.number",
        "phone.Callback.note",
        "routing.Transfer.note",
        "routing.IntentCorrection.text",
        "omnidesk.Event.data",
        "admin.LogEntry.object_repr",
        "customers.MergeRecord.moved",
        "customers.CustomerImport.content",
    ):
        assert where in traces, where
    stored = {path.read_bytes() for path in files_under_media_root()}
    assert {MAIL_ATTACHMENT, PHOTO} <= stored
    assert InboundEvent.objects.filter(processed_at__isnull=True, dead_lettered_at__isnull=True).count() == 2


def test_it_leaves_no_trace_of_her_in_any_row_of_any_model_nor_in_any_file(
    sophie: Any, zoe: Zoe, django_capture_on_commit_callbacks: Any
) -> None:
    counts = {model: model.objects.count() for model in (Conversation, Interaction, Call, InboundEvent)}

    with django_capture_on_commit_callbacks(execute=True):
        record = gdpr.erase_customer(customer=zoe.customer, by=sophie)

    assert traces_of(needles()) == []
    assert files_under_media_root() == []
    assert not Attachment.objects.filter(interaction__customer=zoe.customer).exists()
    # The rows that reports count stay.
    assert {model: model.objects.count() for model in counts} == counts
    assert record.counts["attachments"] == 2
    assert record.counts["calls"] == 2
    assert record.counts["callbacks"] == 1
    # The two raw payloads still waiting were emptied and dead-lettered: the worker never processes an empty payload.
    assert not InboundEvent.objects.filter(processed_at__isnull=True, dead_lettered_at__isnull=True).exists()
    zoe.customer.refresh_from_db()
    assert zoe.customer.erased_at == record.erased_at


def test_it_keeps_the_timeline_renderable_after_erasure(sophie: Any, zoe: Zoe) -> None:
    gdpr.erase_customer(customer=zoe.customer, by=sophie)

    client = logged_in("sophie")
    email_case = Interaction.objects.filter(customer=zoe.customer, channel__kind="email").first()
    assert email_case is not None
    pages = [
        f"/customers/{zoe.customer.pk}/",
        f"/api/customers/{zoe.customer.pk}/timeline/",
        # Her email case holds the author-less automatic acknowledgement, which the desk shows as "Automatic".
        f"/desk/conversations/{email_case.conversation_id}/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert all(needle.lower() not in response.content.decode().lower() for needle in needles()), page

    call_entry = Interaction.objects.get(call__pk=zoe.call.pk)
    assert call_entry.meta["erased"] is True
    assert call_entry.meta["talk_seconds"] == 60
    assert "number" not in call_entry.meta and "notes" not in call_entry.meta
    callback = Callback.objects.get(pk=zoe.callback.pk)
    assert (callback.number, callback.note, callback.customer_id) == ("", "", zoe.customer.pk)
    # Message-IDs, written by the sender's software, are replaced by the same keyed digest on the message and on its
    # raw event: a redelivered copy still finds nothing to collide with, and the pair still matches.
    mail_ids = set(
        Interaction.objects.filter(channel__kind="email", direction="in").values_list("external_id", flat=True)
    )
    assert len(mail_ids) == 2 and all(str(i).startswith("erased-") for i in mail_ids)
    assert mail_ids <= set(InboundEvent.objects.filter(provider="email").values_list("external_id", flat=True))


def test_it_erases_her_again_without_error_and_counts_nothing_left(
    sophie: Any, zoe: Zoe, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        gdpr.erase_customer(customer=zoe.customer, by=sophie)
        again = gdpr.erase_customer(customer=Customer.objects.get(pk=zoe.customer.pk), by=sophie)

    assert again.counts["identities"] == 0 and again.counts["attachments"] == 0
    assert ErasureRecord.objects.filter(customer=zoe.customer).count() == 2
    assert traces_of(needles()) == []


def test_it_exports_every_item_before_erasure(sophie: Any, zoe: Zoe) -> None:
    data = gdpr.export_customer_data(customer=zoe.customer, by=sophie)
    text = as_json(data)

    assert data["profile"]["display_name"] == NAME
    assert {(i["kind"], i["address"]) for i in data["identities"]} >= {("email", EMAIL), ("phone", PHONE)}
    by_kind = {(i["channel"], i["kind"], i["direction"]) for i in data["interactions"]}
    assert {("Website chat", "message", "in"), ("Email", "message", "in"), ("Email", "message", "out")} <= by_kind
    assert {("SMS", "message", "in"), ("SMS", "message", "out"), ("WhatsApp", "message", "in")} <= by_kind
    assert ("Email", "note", "out") in by_kind and ("Phone", "call", "in") in by_kind
    first_mail = next(i for i in data["interactions"] if MESSAGE_ID.strip("<>") in i["message_ids"])
    assert NAME in first_mail["html"] and first_mail["details"]["headers"]
    files = {
        base64.b64decode(a["content_base64"])
        for i in data["interactions"]
        for a in i["attachments"]
        if a["content_base64"]
    }
    assert files == {MAIL_ATTACHMENT, PHOTO}
    calls = {c["recording_url"]: c for c in data["calls"]}
    assert set(calls) == {RECORDING, VOICEMAIL}
    assert calls[RECORDING]["number"] == PHONE and EMAIL in calls[RECORDING]["notes"]
    assert [(c["number"], c["note"]) for c in data["callbacks"]] == [(PHONE, f"Rappeler {NAME} après 18 h")]
    assert any(NAME in t["note"] for c in data["conversations"] for t in c["transfers"])
    # The email continued the chat's open case (one case across channels): the correction keeps the case's first text.
    assert [c["text"] for c in data["intent_corrections"]] == [f"Je suis {NAME}, {EMAIL}"]
    providers = {e["provider"] for e in data["inbound_events"]}
    assert {"email", "twilio", "meta", "cti"} <= providers
    assert any(e["payload"].get("MessageStatus") == "delivered" for e in data["inbound_events"])
    assert any(i["status"] == "delivered" for i in data["interactions"])
    assert "SMearly01" in text


def test_it_refuses_the_export_to_an_agent(alice: Any, zoe: Zoe) -> None:
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        gdpr.export_customer_data(customer=zoe.customer, by=alice)


def test_it_sweeps_models_it_was_never_told_about(zoe: Zoe) -> None:
    """The sweep reads the schema, not a list: here it finds the name in a table this test file never names."""
    from django.contrib.sessions.models import Session

    Session.objects.create(session_key="x" * 32, session_data=NAME, expire_date=gdpr_support.moment(days=1))
    assert any(trace.startswith("sessions.Session.session_data") for trace in traces_of([NAME]))


def test_it_keeps_every_trace_of_another_customer_on_the_same_channels(
    sophie: Any, zoe: Zoe, django_capture_on_commit_callbacks: Any
) -> None:
    """Bernard wrote and called through the same mailbox, number and hotline: erasing Zoé leaves him untouched."""
    from interactions import inbound
    from interactions.mail.services import record_raw_mail
    from interactions.messaging import twilio
    from interactions.models import Channel
    from tests import phone_factories
    from tests.messaging_support import ingest, twilio_sms

    bernard = ["Bernard Quintal", "bernard.quintal@example.org", "+33698765432", "0698765432"]
    mailbox = Channel.objects.get(kind=Channel.Kind.EMAIL)
    bernard_file = b"%PDF bernard 0a1b2c3d4e5f"
    raw = gdpr_support.mail(
        message_id="<b-1@example.org>",
        subject="Bernard Quintal",
        attachment=bernard_file,
        name=bernard[0],
        address=bernard[1],
        phone=bernard[2],
    )
    event, _created = record_raw_mail(channel=mailbox, raw=raw, source="test")
    inbound.process_inbound_event(event_id=event.pk)
    sms = Channel.objects.get(kind=Channel.Kind.SMS)
    ingest(sms, "twilio", twilio.events_from_params(twilio_sms("SMbernard", sender=bernard[2], body=bernard[0])))
    hotline = Channel.objects.get(kind=Channel.Kind.VOICE)
    phone_factories.send_event(hotline, "ringing", "call-bernard", caller=bernard[3])
    before = traces_of(bernard, files=(bernard_file,))
    assert len(before) > 10
    with django_capture_on_commit_callbacks(execute=True):
        gdpr.erase_customer(customer=zoe.customer, by=sophie)

    after = traces_of(bernard, files=(bernard_file,))
    assert sorted(set(before) - set(after)) == [] and after == before
    assert traces_of(needles()) == []
