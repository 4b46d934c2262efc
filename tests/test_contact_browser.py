"""The contact page in Chromium on the live stack: intent first, then the channel the live load allows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from contact.models import ContactSite, FunnelEvent
from interactions.models import Channel, Conversation
from interactions.phone.models import Callback
from routing.models import AgentProfile, ConversationIntent, Queue
from tests.browser import website
from tests.contact_support import ContactSetup, contact_setup
from tests.stack import Stack, wait_until
from tests.test_widget_browser import log_in

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = "test-artifacts"


def contact_snippet(*, desk_url: str, site_key: str, lang: str = "en") -> str:
    """A shop's "Contact us" page embedding the contact page with one script tag."""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Acme - contact</title></head>'
        "<body><h1>Acme</h1>"
        f'<script src="{desk_url}/static/contact/contact-page.js" data-site="{site_key}" async></script>'
        "</body></html>"
    )


@pytest.fixture
def setup(stack: Stack, chat_channel: Channel, support_queue: Queue) -> Iterator[tuple[ContactSetup, str]]:
    built = contact_setup(chat=chat_channel, queue=support_queue, slot_minutes=1)
    ContactSite.objects.filter(pk=built.site.pk).update(booking_lead_minutes=0)
    built.site.refresh_from_db()
    pages = {
        "/contact": contact_snippet(desk_url=stack.base_url, site_key=built.key),
        "/contact-fr": contact_snippet(desk_url=stack.base_url, site_key=built.key, lang="fr"),
    }
    with website(pages) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield built, origin


def solutions(page: Page) -> Any:
    return page.get_by_role("list").filter(has=page.get_by_role("button", name=re.compile("Email")))


def test_it_offers_chat_under_low_load_and_a_callback_once_the_queue_is_long(
    stack: Stack, browser: Browser, alice: Any, setup: tuple[ContactSetup, str], arrive: Any
) -> None:
    contact, origin = setup
    agent = browser.new_context().new_page()
    log_in(agent, stack.base_url, "alice")

    # One available agent, nothing waiting: chat comes first, with a wait range, and reaches her already qualified.
    first = browser.new_context().new_page()
    first.goto(f"{origin}/contact")
    first.get_by_role("button", name=re.compile("Sign a new contract")).press("Enter")  # keyboard only
    offered = solutions(first).get_by_role("button")
    expect(offered.first).to_have_accessible_name(re.compile(r"^Chat — under 1 min wait"))
    first.screenshot(path=f"{SCREENSHOTS}/contact-low-load.png")
    offered.first.focus()
    first.keyboard.press("Enter")
    expect(first.get_by_role("status").filter(has_text="an agent will answer")).to_be_visible()

    mine = agent.get_by_role("list", name="Mine")
    link = mine.get_by_role("link", name=re.compile("Contact page: Sign a new contract"))
    expect(link).to_be_visible()
    link.click()
    expect(agent.get_by_role("region", name="Conversation").get_by_label("Intent")).to_have_value("new-contract")
    chat = Conversation.objects.get(channel=contact.site.chat_channel)
    assert ConversationIntent.objects.get(conversation=chat).intent == contact.contract.intent
    assert FunnelEvent.objects.get(step="contact_created", solution="chat").conversation == chat

    # She goes away and six chats wait: the next visitor is offered a callback and email first, and books a slot.
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    for _n in range(6):
        arrive(contact.site.chat_channel)
    second = browser.new_context().new_page()
    second.goto(f"{origin}/contact")
    second.get_by_role("button", name=re.compile("Sign a new contract")).click()
    offered = solutions(second).get_by_role("button")
    expect(offered.nth(0)).to_have_accessible_name("We call you back — pick a slot")
    expect(offered.nth(1)).to_have_accessible_name(re.compile("^Email"))
    expect(second.get_by_role("button", name=re.compile("^Chat"))).to_have_count(0)
    offered.nth(0).click()
    slot = second.get_by_role("group", name="Pick a time slot").get_by_role("radio").first
    expect(slot).to_be_checked()
    second.get_by_label("Your phone number").fill("+33612345678")
    second.get_by_role("button", name="Book this callback").click()
    expect(second.get_by_role("status").filter(has_text="we will call you")).to_be_visible()
    second.screenshot(path=f"{SCREENSHOTS}/contact-callback-booked.png")

    callback = Callback.objects.get(channel=contact.voice)
    assert callback.window_start > timezone.now() - timedelta(seconds=5)
    assert callback.status == Callback.Status.SCHEDULED
    # The beat of the live stack routes it into the voice queue once its slot begins, not before.
    wait_until(
        lambda: Callback.objects.get(pk=callback.pk).status == Callback.Status.ROUTED,
        timeout=100,
        interval=0.5,
        message="the booked callback to be routed",
    )
    routed = Callback.objects.get(pk=callback.pk)
    assert routed.conversation is not None and routed.conversation.queue == contact.voice.queue
    assert routed.conversation.created_at >= callback.window_start
    created = FunnelEvent.objects.get(step="contact_created", solution="callback")
    assert created.callback_id == callback.pk


def test_it_answers_a_self_service_intent_inline_and_a_yes_closes_the_visit(
    stack: Stack, browser: Browser, setup: tuple[ContactSetup, str]
) -> None:
    contact, origin = setup
    page = browser.new_context().new_page()
    page.goto(f"{origin}/contact-fr")
    page.get_by_role("searchbox", name="Décrivez votre demande").fill("relevé de compteur")
    page.keyboard.press("Enter")
    page.get_by_role("button", name=re.compile("Transmettre un relevé")).first.click()
    expect(page.get_by_text("Saisissez votre relevé dans votre espace client")).to_be_visible()
    group = page.get_by_role("group", name="Cela a-t-il résolu votre problème ?")
    group.get_by_role("button", name="Oui, résolu").click()
    expect(page.get_by_role("status").filter(has_text="Ravis")).to_be_visible()
    wait_until(
        lambda: FunnelEvent.objects.filter(step="helpful_yes").exists(), timeout=30, message="the yes to be stored"
    )
    page.close()  # leaving after a "yes" is no abandonment
    steps = sorted(FunnelEvent.objects.filter(node=contact.meter).values_list("step", flat=True))
    assert steps == ["answer_shown", "helpful_yes", "intent_chosen", "solutions_offered"]
    assert not FunnelEvent.objects.filter(step="abandoned").exists()
