"""The keyboard-first desk in Chromium, with no mouse at all: open the next conversation, reply, note, resolve."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from customers.models import Customer
from interactions.models import Channel, Conversation, Interaction
from tests.stack import Stack, wait_until
from tests.ui_support import chat_from, signed_in_page

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_works_a_conversation_with_the_keyboard_only(
    stack: Stack, browser: Browser, alice: Any, chat_channel: Channel
) -> None:
    first = chat_from(chat_channel, Customer.objects.create(display_name="Jules Petit"), "Premier message").conversation
    second = chat_from(chat_channel, Customer.objects.create(display_name="Nina Roy"), "Second message").conversation
    assert set(Conversation.objects.values_list("assignee", flat=True)) == {alice.pk}
    page = signed_in_page(browser, stack, alice)
    page.goto(f"{stack.base_url}/desk/")
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()

    # ? opens the help, Escape closes it.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()

    # j opens the next conversation, j again the one after it, k goes back.
    page.keyboard.press("j")
    view = page.locator(".conversation-view")
    expect(view).to_have_attribute("data-conversation-id", re.compile(rf"^({first.pk}|{second.pk})$"))
    opened = int(view.get_attribute("data-conversation-id") or 0)
    expect(page.locator("#timeline")).to_be_focused()
    page.keyboard.press("j")
    expect(view).not_to_have_attribute("data-conversation-id", str(opened))
    page.keyboard.press("k")
    expect(view).to_have_attribute("data-conversation-id", str(opened))
    expect(page.locator("#timeline")).to_be_focused()

    # r focuses the reply; typing "j", "k", "e" there fires no shortcut; Ctrl+Enter sends.
    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("Je regarde, ok ?")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#timeline")).to_contain_text("Je regarde, ok ?")
    reply = Interaction.objects.get(conversation_id=opened, direction="out", kind="message")
    assert reply.text == "Je regarde, ok ?"
    expect(view).to_have_attribute("data-conversation-id", str(opened))

    # Escape leaves the field; n switches to a note.
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    expect(page.locator("#composer")).to_have_class(re.compile("mode-note"))
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("Client pressé, rappeler demain")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#timeline .item.note")).to_contain_text("Client pressé, rappeler demain")
    assert Interaction.objects.filter(conversation_id=opened, kind="note").count() == 1
    assert Interaction.objects.filter(conversation_id=opened, direction="out").count() == 2

    # e resolves.
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    wait_until(
        lambda: Conversation.objects.get(pk=opened).status == "resolved", timeout=10, message="resolved by keyboard"
    )
    other = second.pk if opened == first.pk else first.pk
    assert Conversation.objects.get(pk=other).status == "open"
