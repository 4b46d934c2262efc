"""One case across channels, in a real browser (issue 14, "Must show").

A customer chats in the widget about a bill, then emails from the same verified address, then calls: the live desk of
the agent who took the chat shows one case with the three entries in order, and nobody is assigned anew. The agent
splits the email off into a case of its own, and undoes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from customers.models import Customer, Identity
from interactions import visitors
from interactions.mail.services import record_raw_mail
from interactions.models import CaseChange, Channel, Conversation, Interaction
from interactions.phone.models import Call
from routing.models import Assignment, Queue
from tests.browser import website, widget_page
from tests.mail_support import email_channel
from tests.mail_trust_support import mail
from tests.phone_factories import CARLA_PHONE, cti_body, give_phone, phone_channel, send_live
from tests.stack import Stack, wait_until
from tests.test_widget_browser import log_in
from tests.ui_support import VIEWPORT, screenshot

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CARLA_EMAIL = "carla@example.com"


@pytest.fixture
def carla_everywhere(carla: Customer) -> Customer:
    """Carla, who can be recognised on every channel: her verified email and her phone number."""
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address=CARLA_EMAIL, verified=True)
    return give_phone(carla)


@pytest.fixture
def carla_account_page(stack: Stack, chat_channel: Channel) -> Iterator[str]:
    """The shop's account page, where Carla is logged in: the widget is told (and signed) who she is."""
    signature = visitors.sign_visitor_email(channel=chat_channel, email=CARLA_EMAIL)
    page = widget_page(
        desk_url=stack.base_url,
        channel_key=chat_channel.public_key,
        attributes={"email": CARLA_EMAIL, "name": "Carla", "identifier-hash": signature},
    )
    with website({"/account": page}) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield f"{origin}/account"


def test_it_keeps_a_chat_an_email_and_a_call_about_one_bill_in_one_case_on_the_same_agents_screen(
    stack: Stack,
    browser: Browser,
    alice: Any,
    support_queue: Queue,
    carla_everywhere: Customer,
    carla_account_page: str,
) -> None:
    carla = carla_everywhere
    mailbox = email_channel(support_queue)
    hotline = phone_channel(support_queue)
    desk = browser.new_context(viewport=VIEWPORT).new_page()
    log_in(desk, stack.base_url, "alice")

    # 1. The chat, from the shop's website: alice gets it.
    widget = browser.new_context().new_page()
    widget.goto(carla_account_page)
    widget.get_by_role("button", name="Chat with us").click()
    widget.get_by_label("Message").fill("Bonjour, ma facture de mars est fausse")
    widget.get_by_role("button", name="Send").click()
    case_link = desk.get_by_role("list", name="Mine").get_by_role("link", name=re.compile("Carla"))
    expect(case_link).to_be_visible()
    case_link.click()
    timeline = desk.get_by_role("log", name="Timeline")
    expect(timeline).to_contain_text("Bonjour, ma facture de mars est fausse")
    case = Conversation.objects.get(customer=carla)
    assert case.assignee_id == alice.pk

    # 2. Then she emails from the same (verified) address, replying to nothing: no thread marker.
    # Stored as the mail intake stores it; the live worker files it.
    record_raw_mail(
        channel=mailbox,
        raw=mail(
            sender=f"Carla Dupont <{CARLA_EMAIL}>",
            subject="Facture de mars",
            message_id="carla-bill@example.com",
            body="Je vous joins la facture de mars : 120 euros au lieu de 80.",
        ),
        source="test",
    )
    wait_until(
        lambda: Interaction.objects.filter(channel=mailbox).exists(), timeout=20, message="the worker to file the email"
    )
    email = Interaction.objects.get(channel=mailbox)
    assert email.customer_id == carla.pk and email.conversation_id == case.pk
    # The desk is never reloaded: the email arrives in the case alice has open.
    expect(timeline).to_contain_text("120 euros au lieu de 80")

    # 3. Then she calls: the call joins the same case (no suggestion to link, no new case).
    ringing = cti_body("ringing", "carla-bill-1", caller=CARLA_PHONE)
    assert send_live(stack.base_url, hotline, ringing).status_code == 202
    wait_until(
        lambda: Call.objects.filter(call_id="carla-bill-1", interaction__isnull=False).exists(),
        timeout=20,
        message="the worker to file the call",
    )
    call = Call.objects.select_related("interaction").get(call_id="carla-bill-1")
    assert call.conversation_id == case.pk
    expect(timeline.locator(f"#interaction-{call.interaction_id}")).to_be_visible()

    # One case, three entries in the order they came, each labelled with its channel, on alice's screen.
    entries = list(Interaction.objects.filter(conversation=case).order_by("created_at", "id"))
    assert [(entry.channel.kind, entry.kind) for entry in entries] == [
        (Channel.Kind.CHAT, Interaction.Kind.MESSAGE),
        (Channel.Kind.EMAIL, Interaction.Kind.MESSAGE),
        (Channel.Kind.VOICE, Interaction.Kind.CALL),
    ]
    shown = timeline.locator("li.item")
    expect(shown).to_have_count(3)
    for position, (entry, label) in enumerate(zip(entries, ["Website chat", "Email", "Phone"], strict=True)):
        expect(shown.nth(position)).to_have_id(f"interaction-{entry.pk}")
        expect(shown.nth(position).locator(".channel")).to_have_text(label)
    assert Conversation.objects.filter(customer=carla).count() == 1
    # Routing followed the case: alice still has it, and nobody was assigned anew.
    case.refresh_from_db()
    assert case.assignee_id == alice.pk
    assert Assignment.objects.filter(conversation=case).count() == 1
    screenshot(desk, "case-across-channels")

    # 4. The email was about another thing after all: alice splits it off into a case of its own…
    desk.reload()
    timeline.get_by_role("button", name="Split this Email message off into a new case").click()
    expect(desk).not_to_have_url(re.compile(rf"/desk/conversations/{case.pk}/$"))
    split = CaseChange.objects.get(kind=CaseChange.Kind.SPLIT, source=case)
    assert split.interaction_ids == [email.pk]
    expect(desk).to_have_url(re.compile(rf"/desk/conversations/{split.target_id}/$"))
    assert Interaction.objects.get(pk=email.pk).conversation_id == split.target_id
    assert Conversation.objects.get(pk=split.target_id).assignee_id == alice.pk
    expect(timeline.locator(f"#interaction-{email.pk}")).not_to_have_class(re.compile("other-case"))
    expect(timeline.locator(f"#interaction-{entries[0].pk}")).to_have_class(re.compile("other-case"))
    screenshot(desk, "case-split")

    # …and undoes it: the email is back in the case, between the chat and the call, recorded.
    timeline.get_by_role("button", name="Undo the split").click()
    expect(desk).to_have_url(re.compile(rf"/desk/conversations/{case.pk}/$"))
    expect(timeline.locator(f"#interaction-{email.pk}")).not_to_have_class(re.compile("other-case"))
    split.refresh_from_db()
    assert split.undone_at is not None and split.undone_by_id == alice.pk
    customer_entries = Interaction.objects.filter(conversation=case).exclude(kind=Interaction.Kind.SYSTEM)
    assert list(customer_entries.order_by("created_at", "id")) == entries
    case.refresh_from_db()
    assert case.assignee_id == alice.pk
    assert Assignment.objects.filter(conversation=case).count() == 1
