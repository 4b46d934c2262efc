"""The desk's conversation page reads its timeline once: the number of queries does not grow with its entries.

Alice, an agent of the Support team, opens Carla's conversation; its timeline mixes chat messages, emails with
attachments, calls (with their call records), due callbacks and internal notes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from interactions.models import Attachment, Channel, Conversation, Interaction
from interactions.phone.models import Call, Callback
from tests.clients import logged_in

ENTRY_KINDS = 5  # one round adds a chat message, an email, a call, a due callback and a note


def add_round(conversation: Conversation, mailbox: Channel, phone: Channel, alice: Any, n: int) -> None:
    customer = conversation.customer

    def entry(channel: Channel, **fields: Any) -> Interaction:
        return Interaction.objects.create(conversation=conversation, customer=customer, channel=channel, **fields)

    entry(conversation.channel, direction="in", text=f"chat {n}")
    email = entry(mailbox, direction="in", text=f"email {n}", meta={"subject": f"Bill {n}", "media": True})
    Attachment.objects.create(interaction=email, filename=f"bill-{n}.pdf", content_type="application/pdf", size=10)
    call = entry(phone, direction="in", kind=Interaction.Kind.CALL, text=f"call {n}")
    Call.objects.create(
        channel=phone,
        call_id=f"call-{n}",
        customer=customer,
        interaction=call,
        conversation=conversation,
        agent=alice,
        state=Call.State.ENDED,
        result=Call.Result.ANSWERED,
        notes=f"called about bill {n}",
    )
    now = timezone.now()
    callback = Callback.objects.create(
        channel=phone,
        customer=customer,
        number="+33612345678",
        reason=Callback.Reason.choices[0][0],
        window_start=now,
        window_end=now + timedelta(hours=1),
        next_attempt_at=now,
        status=Callback.Status.ROUTED,
        conversation=conversation,
    )
    entry(
        phone,
        kind=Interaction.Kind.SYSTEM,
        text=f"callback {n}",
        meta={"callback_event": "due", "callback": callback.pk},
    )
    entry(conversation.channel, kind=Interaction.Kind.NOTE, author=alice, text=f"note {n}")


def queries_to_open(conversation: Conversation) -> tuple[int, str]:
    client = logged_in("alice")
    client.get(f"/desk/conversations/{conversation.pk}/")  # warm the session and per-process caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/desk/conversations/{conversation.pk}/")
    assert response.status_code == 200
    return len(captured), response.content.decode()


def test_it_opens_a_conversation_of_50_entries_in_as_many_queries_as_one_of_5(
    alice: Any, chat_channel: Channel, email_channel: Channel, carla: Customer
) -> None:
    phone = Channel.objects.create(kind=Channel.Kind.VOICE, name="Hotline", queue=chat_channel.queue)
    conversation = Conversation.objects.create(
        customer=carla, channel=chat_channel, queue=chat_channel.queue, assignee=alice
    )
    add_round(conversation, email_channel, phone, alice, 0)
    small, small_page = queries_to_open(conversation)
    for n in range(1, 10):
        add_round(conversation, email_channel, phone, alice, n)
    assert conversation.interactions.count() == 10 * ENTRY_KINDS
    large, large_page = queries_to_open(conversation)

    # The pages do show what the entries hold: the call's notes, the attachment, the callback's outcome form.
    for page, rounds in ((small_page, 1), (large_page, 10)):
        assert page.count("bill-") >= rounds
        assert page.count("called about bill") == rounds
    assert large == small, f"{small} queries for {ENTRY_KINDS} entries, {large} for {10 * ENTRY_KINDS}"
