"""Typing and collision with two agent browsers and a visitor (issue 15, item 4)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, expect

from interactions.models import Channel, Interaction
from omnidesk.models import Event
from tests.browser import website, widget_page
from tests.stack import Stack, wait_until
from tests.ui_support import signed_in_page

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def customer_site(stack: Stack, chat_channel: Channel) -> Iterator[str]:
    with website({"/": widget_page(desk_url=stack.base_url, channel_key=chat_channel.public_key)}) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield origin


def test_it_shows_typing_viewers_and_flags_a_reply_after_another_agents(
    stack: Stack, browser: Browser, alice: Any, customer_site: str, bruno: Any
) -> None:
    visitor = browser.new_context().new_page()
    visitor.goto(customer_site)
    visitor.get_by_role("button", name="Chat with us").click()
    visitor.get_by_label("Message").fill("Bonjour, une question")
    visitor.get_by_role("button", name="Send").click()
    wait_until(lambda: Interaction.objects.filter(text="Bonjour, une question").exists(), timeout=15, message="stored")
    conversation_id = Interaction.objects.get(text="Bonjour, une question").conversation_id

    pages = {}
    for name in ("alice", "bruno"):
        page = signed_in_page(browser, stack, get_user_model().objects.get(username=name))
        page.goto(f"{stack.base_url}/desk/conversations/{conversation_id}/")
        expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
        pages[name] = page
    a, b = pages["alice"], pages["bruno"]

    # Both see each other viewing.
    expect(a.locator("#viewers")).to_contain_text("Bruno")
    expect(b.locator("#viewers")).to_contain_text("Alice")

    # The visitor types: both agents see it, and it stops.
    visitor.get_by_label("Message").press_sequentially("Je voul")
    for page in (a, b):
        expect(page.locator("#typing-indicator")).to_have_text("The customer is typing…")
    for page in (a, b):
        expect(page.locator("#typing-indicator")).to_have_text("", timeout=10_000)

    # Alice types: the visitor and Bruno see it (Bruno also sees her replying), and it stops once she sends.
    a.locator("#reply-text").press_sequentially("Bonjour")
    expect(visitor.get_by_text("Alice is typing…")).to_be_visible()
    expect(b.locator("#typing-indicator")).to_have_text("Alice is typing…")
    expect(b.locator("#viewers")).to_contain_text(re.compile("Alice \\(replying\\)"))

    # Bruno starts a reply; Alice's lands first; Bruno's Send is flagged once, then sends.
    b.locator("#reply-text").fill("Je m'en occupe")
    b.locator("#reply-text").press("End")
    a.locator("#reply-text").press_sequentially(", je regarde.")
    a.get_by_role("button", name="Send").click()
    expect(b.locator("#timeline")).to_contain_text("Bonjour, je regarde.")
    expect(visitor.get_by_text("Alice is typing…")).to_be_hidden()
    b.get_by_role("button", name="Send").click()
    expect(b.get_by_role("alert")).to_contain_text("A new message arrived since you started writing.")
    assert not Interaction.objects.filter(text="Je m'en occupe").exists()
    b.get_by_role("button", name="Send").click()
    expect(b.locator("#timeline")).to_contain_text("Je m'en occupe")
    assert Interaction.objects.filter(text="Je m'en occupe", direction="out").count() == 1

    # No stale "viewing" when a desk goes away.
    b.close()
    expect(a.locator("#viewers")).not_to_contain_text("Bruno")
    # Typing and viewing were never stored as events (the replies were).
    types = set(Event.objects.values_list("type", flat=True))
    assert "message.created" in types
    assert not any("typing" in t or "viewers" in t for t in types), types
