"""The world of the visibility tests: two teams' worth of real objects, so that every `<int:pk>` of the URLconf
names something of the right kind.

Support (Alice's team) and the confidential Fraud queue (Fiona's) each get a conversation with a customer message,
an internal note, an email, attachments (on the message and on the note), a call in wrap-up, a routed callback, a
routing item with a pending offer and a voice channel. Billing (Oscar's team) has its own channel. Shared objects:
an organization, an intent, a merge record, a customer import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from customers.merge import merge_customers
from customers.models import Customer, CustomerImport, Identity, MergeRecord, Organization
from interactions.models import Attachment, Channel, Conversation, Interaction
from interactions.phone.models import Call, Callback
from routing.models import Intent, Offer, Queue, RoutingItem

NOTE_TEXT = "NOTE-secret: the customer is under investigation"
MESSAGE_TEXT = "Bonjour, ma carte a été débitée deux fois"
FRAUD_MESSAGE_TEXT = "CONFIDENTIAL-fraud: mon conjoint a utilisé ma carte"
CALL_NOTES = "CALLNOTE-secret: asked for the PIN"


@dataclass
class Scope:
    """One team's objects."""

    queue: Queue
    agent: Any
    customer: Customer
    chat: Channel
    email: Channel
    voice: Channel
    conversation: Conversation
    message: Interaction
    note: Interaction
    email_message: Interaction
    attachment: Attachment
    note_attachment: Attachment
    call: Call
    call_conversation: Conversation
    callback: Callback
    offer: Offer
    phone: str


@dataclass
class World:
    support: Scope
    fraud: Scope
    billing_chat: Channel
    billing_queue: Queue
    organization: Organization
    intent: Intent
    merged_source: Customer
    merge_record: MergeRecord
    customer_import: CustomerImport
    users: dict[str, Any] = field(default_factory=dict)


def _entry(conversation: Conversation, channel: Channel, **fields: Any) -> Interaction:
    defaults: dict[str, Any] = {"direction": Interaction.Direction.INBOUND, "kind": Interaction.Kind.MESSAGE}
    return Interaction.objects.create(
        conversation=conversation, customer=conversation.customer, channel=channel, **{**defaults, **fields}
    )


def _file(interaction: Interaction, name: str, content: bytes) -> Attachment:
    attachment = Attachment(interaction=interaction, filename=name, content_type="application/pdf", size=len(content))
    attachment.file.save(name, ContentFile(content), save=True)
    return attachment


def build_scope(*, queue: Queue, agent: Any, name: str, phone: str, text: str) -> Scope:
    now = timezone.now()
    chat = Channel.objects.create(kind=Channel.Kind.CHAT, name=f"{name} chat", queue=queue)
    email = Channel.objects.create(kind=Channel.Kind.EMAIL, name=f"{name} mailbox", queue=queue)
    voice = Channel.objects.create(kind=Channel.Kind.VOICE, name=f"{name} line", queue=queue)
    customer = Customer.objects.create(display_name=f"{name} customer")
    Identity.objects.create(customer=customer, kind=Identity.Kind.PHONE, address=phone)
    Identity.objects.create(customer=customer, kind=Identity.Kind.EMAIL, address=f"{name.lower()}@example.com")
    conversation = Conversation.objects.create(
        customer=customer, channel=chat, queue=queue, assignee=agent, last_message_at=now, queued_at=now
    )
    message = _entry(conversation, chat, text=text, external_id=f"{name}-m1")
    note = _entry(
        conversation,
        chat,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=agent,
        text=f"{NOTE_TEXT} ({name})",
    )
    email_message = _entry(
        conversation, email, text=f"{text} (email)", html=f"<p>{text} (email)</p>", external_id=f"{name}-e1"
    )
    attachment = _file(message, f"{name.lower()}-statement.pdf", b"%PDF statement " + name.encode())
    note_attachment = _file(note, f"{name.lower()}-investigation.pdf", b"%PDF investigation " + name.encode())
    call_conversation = Conversation.objects.create(
        customer=customer, channel=voice, queue=queue, assignee=agent, last_message_at=now, queued_at=now
    )
    call_entry = _entry(
        call_conversation, voice, kind=Interaction.Kind.CALL, text="Inbound call · Answered", meta={"notes": CALL_NOTES}
    )
    call = Call.objects.create(
        channel=voice,
        call_id=f"{name}-call-1",
        number=phone,
        customer=customer,
        interaction=call_entry,
        conversation=call_conversation,
        queue=queue,
        agent=agent,
        answered_by=agent,
        state=Call.State.WRAP_UP,
        result=Call.Result.ANSWERED,
        ringing_at=now - timedelta(minutes=5),
        answered_at=now - timedelta(minutes=4),
        ended_at=now - timedelta(minutes=1),
        notes=CALL_NOTES,
        linked_conversation=conversation,
        link_status=Call.LinkStatus.SUGGESTED,
    )
    callback_conversation = Conversation.objects.create(
        customer=customer, channel=voice, queue=queue, last_message_at=now, queued_at=now
    )
    callback = Callback.objects.create(
        channel=voice,
        customer=customer,
        number=phone,
        reason=Callback.Reason.REQUESTED,
        window_start=now - timedelta(minutes=10),
        window_end=now + timedelta(hours=2),
        next_attempt_at=now,
        status=Callback.Status.ROUTED,
        conversation=callback_conversation,
    )
    waiting = Conversation.objects.create(customer=customer, channel=chat, queue=queue, queued_at=now)
    item = RoutingItem.objects.create(
        conversation=waiting,
        queue=queue,
        capacity_class="chat",
        state=RoutingItem.State.OFFERED,
        queued_at=now,
    )
    offer = Offer.objects.create(item=item, agent=agent, expires_at=now + timedelta(hours=1))
    return Scope(
        queue=queue,
        agent=agent,
        customer=customer,
        chat=chat,
        email=email,
        voice=voice,
        conversation=conversation,
        message=message,
        note=note,
        email_message=email_message,
        attachment=attachment,
        note_attachment=note_attachment,
        call=call,
        call_conversation=call_conversation,
        callback=callback,
        offer=offer,
        phone=phone,
    )


def build_world(*, support_queue: Queue, billing_queue: Queue, fraud_queue: Queue, users: dict[str, Any]) -> World:
    support = build_scope(
        queue=support_queue, agent=users["alice"], name="Support", phone="+33612345678", text=MESSAGE_TEXT
    )
    fraud = build_scope(
        queue=fraud_queue, agent=users["fiona"], name="Fraud", phone="+33698765432", text=FRAUD_MESSAGE_TEXT
    )
    # The same customer is served by both teams: the Fraud case lands in Support's customer's timeline too.
    fraud_in_support_timeline = Conversation.objects.create(
        customer=support.customer, channel=fraud.chat, queue=fraud_queue, assignee=users["fiona"]
    )
    _entry(fraud_in_support_timeline, fraud.chat, text=FRAUD_MESSAGE_TEXT + " (same customer)", external_id="x-f")
    _entry(
        fraud_in_support_timeline,
        fraud.chat,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=users["fiona"],
        text=NOTE_TEXT + " (fraud note on the support customer)",
    )
    billing_chat = Channel.objects.create(kind=Channel.Kind.CHAT, name="Billing chat", queue=billing_queue)
    source = Customer.objects.create(display_name="Duplicate of the support customer")
    target = Customer.objects.create(display_name="Survivor")
    record = merge_customers(source=source, target=target, by=users["sophie"])
    return World(
        support=support,
        fraud=fraud,
        billing_chat=billing_chat,
        billing_queue=billing_queue,
        organization=Organization.objects.create(name="Acme"),
        intent=Intent.objects.create(key="card-lost", name="Lost card", queue=support_queue),
        merged_source=source,
        merge_record=record,
        customer_import=CustomerImport.objects.create(created_by=users["sophie"], content="display_name\nX\n"),
        users=users,
    )


@pytest.fixture(name="world")
def world_fixture(
    support_queue: Queue,
    billing_queue: Queue,
    fraud_queue: Queue,
    alice: Any,
    oscar: Any,
    fiona: Any,
    sophie: Any,
    stan: Any,
    dora: Any,
) -> World:
    """Import it into a test module (`from tests.vis_support import world_fixture`) to use it."""
    users = {"alice": alice, "oscar": oscar, "fiona": fiona, "sophie": sophie, "stan": stan, "dora": dora}
    return build_world(support_queue=support_queue, billing_queue=billing_queue, fraud_queue=fraud_queue, users=users)
