"""Zoé Lambertini, present on every channel and in every related record, and a generic sweep for her traces.

`zoe_everywhere` builds her through the real paths (webhooks' adapters, the mail parser, the CTI processor, the SMTP
sender, the provider HTTP senders against a local fake provider, the routing and phone services), so that her data
lands wherever production puts it. `traces_of` then looks at every row of every model and every file under
MEDIA_ROOT, knowing nothing of the schema: a new model or field is swept without touching this module.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from customers.merge import merge_customers
from customers.models import Customer, CustomerImport, Identity
from interactions import outbound
from interactions.inbound import record_inbound_event
from interactions.mail.services import record_raw_mail
from interactions.messaging import media, meta, twilio
from interactions.messaging.services import record_provider_id
from interactions.models import Channel, Conversation, Interaction
from interactions.phone import actions, callbacks
from interactions.phone.models import Call, Callback
from interactions.services import reply_to_conversation
from routing.intents import correct_intent
from routing.models import Intent, Queue
from routing.transfers import transfer_conversation
from tests import mail_support, phone_factories
from tests.factories import widget_message
from tests.messaging_support import (
    FakeProvider,
    ingest,
    make_channel,
    twilio_sms,
    twilio_status,
    whatsapp_envelope,
    whatsapp_text,
)

NAME = "Zoé Lambertini"
SURNAME = "Lambertini"
EMAIL = "zoe.lambertini@example.com"
PHONE = "+33612345678"
PHONE_FORMS = ("+33612345678", "33612345678", "0612345678", "06 12 34 56 78", "06.12.34.56.78", "612345678")
VISITOR = "zoe-visitor-7f3a9c"
MAIL_ATTACHMENT = b"%PDF-1.4 facture confidentielle 7f3a9c de la cliente"
PHOTO = b"\xff\xd8\xff\xe0 photo jpeg 5b2e81 du colis abime"
MESSAGE_ID = f"<20261201091233.{EMAIL}>"
RECORDING = "https://recordings.example.net/rec-5b2e81.mp3"
VOICEMAIL = "https://recordings.example.net/voicemail-9d41c0.mp3"


def needles() -> list[str]:
    """What must never be found after erasure: name, email, phone in every common format, recording URLs."""
    return [NAME, SURNAME, EMAIL, *PHONE_FORMS, VISITOR, RECORDING, VOICEMAIL]


FILE_BYTES = (MAIL_ATTACHMENT, PHOTO)


def mail(
    *,
    message_id: str,
    subject: str,
    in_reply_to: str = "",
    attachment: bytes = b"",
    name: str = NAME,
    address: str = EMAIL,
    phone: str = PHONE,
) -> bytes:
    """A mail from `name` <`address`> with a plain and an HTML part, a custom header and optionally a PDF."""
    surname = name.split()[-1]
    national = phone_national(phone)
    message = EmailMessage()
    domain = address.rpartition("@")[2]
    # Our own MX vouches for the sender's domain, as for any real customer: only then is an acknowledgement sent.
    message["Authentication-Results"] = (
        f"mx.example.com; spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
    )
    message["From"] = f"{name} <{address}>"
    message["To"] = "support@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id
    message["X-Customer-Phone"] = phone
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(f"Bonjour, ici {name}, joignable au {national}.\n")
    message.add_alternative(f"<p>Bonjour, ici <b>{name}</b> ({address}), tél. {phone}</p>", subtype="html")
    if attachment:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename=f"facture-{surname}.pdf")
    return message.as_bytes()


def phone_national(e164: str) -> str:
    import phonenumbers

    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)


@dataclass
class Zoe:
    customer: Customer
    email_case: Conversation
    sms_case: Conversation
    call: Call
    voicemail: Call
    callback: Callback


def zoe_everywhere(
    *,
    queue: Queue,
    agent: Any,
    supervisor: Any,
    provider: FakeProvider,
    smtp: mail_support.SmtpServer,
) -> Zoe:
    """Zoé on chat, email (HTML, headers, attachment, reply threaded by Message-ID, our reply by SMTP), SMS (in,
    out, delivery receipts), WhatsApp (text and a photo fetched from the provider), two calls (a recorded one with
    notes, a voicemail), a callback, a transfer with a note, an intent correction, an admin log entry and a CSV
    import — with a merge of her website-visitor self into her."""
    zoe = Customer.objects.create(display_name=NAME, segment=f"famille {SURNAME}", attributes={"nom": NAME})
    for kind in (Identity.Kind.EMAIL, Identity.Kind.PHONE, Identity.Kind.WHATSAPP):
        Identity.objects.create(customer=zoe, kind=kind, address=EMAIL if kind == Identity.Kind.EMAIL else PHONE)

    chat = Channel.objects.create(kind=Channel.Kind.CHAT, name="Site", queue=queue, allowed_origins=["*"])
    visitor = widget_message(chat, visitor=VISITOR, text=f"Je suis {NAME}, {EMAIL}").customer
    Customer.objects.filter(pk=visitor.pk).update(attributes={"adresse": f"chez {SURNAME}, Lyon"})
    visitor.refresh_from_db()
    merge_customers(source=visitor, target=zoe, by=supervisor)

    mailbox = mail_support.email_channel(
        queue,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        attachment_max_bytes=1024 * 1024,
        acknowledgement="Nous avons bien reçu votre message.",
    )
    first = ingest_mail(mailbox, mail(message_id=MESSAGE_ID, subject=f"Facture de {NAME}", attachment=MAIL_ATTACHMENT))
    ingest_mail(mailbox, mail(message_id="<reply-2.5b2e81@example.com>", subject="Re", in_reply_to=MESSAGE_ID))
    email_case = first.conversation
    Conversation.objects.filter(pk=email_case.pk).update(assignee=agent)
    answer = reply_to_conversation(conversation=email_case, author=agent, text=f"Bonjour {NAME}, c'est noté.")
    outbound.deliver_interaction(interaction_id=answer.pk)
    Interaction.objects.create(
        conversation=email_case,
        customer=zoe,
        channel=mailbox,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=agent,
        text=f"Note interne : {NAME} rappeler au {PHONE}",
    )
    intent = Intent.objects.create(key="billing", name="Billing", queue=queue)
    correct_intent(conversation=email_case, intent=intent, by=agent)
    other_queue = Queue.objects.create(name="Escalade")
    transfer_conversation(
        conversation=email_case, by=supervisor, to_queue=other_queue, note=f"{NAME} menace de partir, {PHONE}"
    )

    sms = make_channel(Channel.Kind.SMS, queue, api_base=provider.url)
    [sms_in] = ingest(sms, "twilio", twilio.events_from_params(twilio_sms("SMzoe01", sender=PHONE, body=NAME)))
    sms_case = sms_in.conversation
    Conversation.objects.filter(pk=sms_case.pk).update(assignee=agent)
    sms_out = reply_to_conversation(conversation=sms_case, author=agent, text=f"Merci {NAME}")
    sms_out = outbound.deliver_interaction(interaction_id=sms_out.pk)
    ingest(sms, "twilio", twilio.events_from_params(twilio_status(str(sms_out.external_id), "delivered")))
    # A receipt that came before its message's id was recorded (a PendingReceipt), then applied.
    early = reply_to_conversation(conversation=sms_case, author=agent, text="Autre chose ?")
    ingest(sms, "twilio", twilio.events_from_params(twilio_status("SMearly01", "sent", ErrorCode="")))
    record_provider_id(interaction=early, external_id="SMearly01")

    whatsapp = make_channel(Channel.Kind.WHATSAPP, queue, api_base=provider.url)
    provider.media["media-zoe"] = PHOTO
    image = {"from": PHONE[1:], "id": "wamid.ZOE2", "type": "image", "image": {"id": "media-zoe"}}
    body = whatsapp_envelope(
        messages=[whatsapp_text("wamid.ZOE1", f"Bonjour, {NAME}", sender=PHONE[1:]), image], name=NAME, wa_id=PHONE[1:]
    )
    _text, photo = ingest(whatsapp, "meta", meta.events_from_body(body))
    media.fetch_attachment(attachment_id=photo.attachments.get().pk)

    hotline = phone_factories.phone_channel(queue)
    start = timezone.now() - timedelta(minutes=30)
    at = phone_factories.moments(start, 0, 5, 65, 120)
    phone_factories.send_event(hotline, "ringing", "call-zoe-1", at[0], caller="06 12 34 56 78", agent="alice")
    phone_factories.send_event(hotline, "answered", "call-zoe-1", at[1], agent="alice")
    call = phone_factories.send_event(hotline, "hangup", "call-zoe-1", at[2], recording_url=RECORDING)
    call = actions.save_call_notes(call=call, by=agent, notes=f"{NAME} veut résilier, {EMAIL}")
    phone_factories.send_event(hotline, "ringing", "call-zoe-2", at[3], caller=PHONE)
    voicemail = phone_factories.send_event(
        hotline, "hangup", "call-zoe-2", at[3] + timedelta(seconds=20), cause="voicemail", recording_url=VOICEMAIL
    )
    callback = callbacks.request_callback(
        channel=hotline, number="06 12 34 56 78", name=NAME, note=f"Rappeler {NAME} après 18 h", by=agent
    )

    # Raw payloads that never became a message: a mail and an SMS still waiting for the worker.
    record_raw_mail(channel=mailbox, raw=mail(message_id="<pending-3.5b2e81@example.net>", subject="?"), source="test")
    waiting = twilio.events_from_params(twilio_sms("SMzoe-pending", sender=PHONE, body="encore moi"))
    for external_id, payload in waiting:
        record_inbound_event(channel=sms, external_id=external_id, payload=payload, provider="twilio")

    LogEntry.objects.create(
        user=supervisor,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(zoe.pk),
        object_repr=NAME,
        action_flag=CHANGE,
        change_message=f"Email changed to {EMAIL}",
    )
    CustomerImport.objects.create(
        filename="crm.csv", content=f"display_name,email,phone\n{NAME},{EMAIL},06 12 34 56 78\n", status="done"
    )
    zoe.refresh_from_db()
    return Zoe(zoe, email_case, sms_case, call, voicemail, callback)


def ingest_mail(channel: Channel, raw: bytes) -> Interaction:
    from interactions import inbound

    event, _created = record_raw_mail(channel=channel, raw=raw, source="test")
    interaction = inbound.process_inbound_event(event_id=event.pk)
    assert interaction is not None
    return interaction


# --- the sweep ---------------------------------------------------------------------------------------------------

BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]{16,}$")


def texts_in(value: Any) -> Iterator[str]:
    """Every string inside a stored value (JSON walked), and what base64-looking strings decode to."""
    if isinstance(value, str):
        yield value
        if BASE64.match(value):
            try:
                decoded = base64.b64decode(value, validate=False)
            except (binascii.Error, ValueError):
                return
            yield decoded.decode("latin-1")
            yield decoded.decode("utf-8", errors="ignore")
            yield from texts_in_mime(decoded)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from texts_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts_in(item)
    elif isinstance(value, bytes | memoryview):
        yield bytes(value).decode("latin-1")


def texts_in_mime(raw: bytes) -> Iterator[str]:
    """A stored mail's parts, decoded (their base64 and quoted-printable bodies hide names and files)."""
    import email
    from email import policy

    if b"\n" not in raw[:2000] or b":" not in raw[:200]:
        return
    message = email.message_from_bytes(raw, policy=policy.compat32)
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            yield payload.decode("latin-1")
            yield payload.decode("utf-8", errors="ignore")
        for header, value in part.items():
            yield f"{header}: {value}"
            yield str(email.header.make_header(email.header.decode_header(str(value))))


def found_in(text: str, searched: list[str], files: tuple[bytes, ...]) -> list[str]:
    lowered = text.lower()
    hits = [needle for needle in searched if needle.lower() in lowered]
    return hits + [f"<{len(data)} bytes of a file>" for data in files if data.decode("latin-1") in text]


def traces_of(searched: list[str], files: tuple[bytes, ...] = FILE_BYTES) -> list[str]:
    """ "app.Model.field #pk: needle" for every trace in any row of any model, then in any file under MEDIA_ROOT."""
    traces: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy:
            continue
        fields = [field for field in model._meta.concrete_fields if not isinstance(field, models.AutoField)]
        names = [field.attname for field in fields]
        for row in model._default_manager.values_list("pk", *names).iterator():
            for field, value in zip(fields, row[1:], strict=True):
                where = f"{model._meta.label}.{field.name} #{row[0]}"
                for text in texts_in(value):
                    traces += [f"{where}: {hit}" for hit in found_in(text, searched, files)]
                if isinstance(field, models.FileField) and value:
                    traces += [
                        f"{where} (file): {hit}"
                        for hit in file_traces(Path(settings.MEDIA_ROOT) / value, searched, files)
                    ]
    root = Path(settings.MEDIA_ROOT)
    if root.exists():
        for path in root.rglob("*"):
            if path.is_file():
                traces += [f"{path}: {hit}" for hit in file_traces(path, searched, files)]
            traces += [f"{path} (name): {hit}" for hit in found_in(path.name, searched, ())]
    return traces


def file_traces(path: Path, searched: list[str], files: tuple[bytes, ...]) -> list[str]:
    if not path.is_file():
        return []
    data = path.read_bytes()
    return found_in(data.decode("latin-1"), searched, files) + found_in(data.decode("utf-8", "ignore"), searched, ())


def files_under_media_root() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def moment(days: int = 0) -> datetime:
    return timezone.now() + timedelta(days=days)


def as_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)
