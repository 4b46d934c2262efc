"""The composer's canned-response picker in Chromium (static/desk/canned.js): "/word" lists the matching responses as
options, arrows choose, Enter inserts the rendered text in place of the shortcut, Escape closes the list."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from assist.models import CannedResponse
from interactions.models import Channel
from routing.models import Queue
from tests.stack import Stack
from tests.test_agent_canned import french_conversation
from tests.test_widget_browser import log_in
from tests.ui_support import screenshot

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_picks_a_canned_response_with_the_keyboard(
    stack: Stack, browser: Browser, alice: Any, support_queue: Queue, chat_channel: Channel
) -> None:
    conversation = french_conversation(chat_channel)
    for shortcut, title, body, language in (
        ("refund", "Refund", "Refund for {{customer.first_name}}.", ""),
        ("refund", "Remboursement", "Remboursement pour {{customer.first_name}}.", "fr"),
        ("reship", "Reship", "We ship it again, {{agent.first_name}}.", ""),
    ):
        CannedResponse.objects.create(shortcut=shortcut, title=title, body=body, language=language, scope="global")
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    log_in(page, stack.base_url, "alice")
    page.goto(f"{stack.base_url}/desk/conversations/{conversation.pk}/")

    reply = page.get_by_role("textbox", name="Reply")
    reply.fill("Bonjour,\n")
    reply.press("End")
    reply.press_sequentially("/re")
    options = page.get_by_role("listbox", name="Canned responses").get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    screenshot(page, "canned-picker")

    reply.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(reply).to_have_attribute("aria-activedescendant", "canned-1")
    chosen = options.nth(1).inner_text()
    reply.press("Enter")
    expected = "Remboursement pour Camille." if "refund" in chosen else "We ship it again, Alice."
    expect(reply).to_have_value("Bonjour,\n" + expected)
    expect(page.get_by_role("listbox", name="Canned responses")).to_be_hidden()

    reply.press("Enter")
    reply.press_sequentially("/ref")
    expect(options).to_have_count(1)
    reply.press("Escape")
    expect(page.get_by_role("listbox", name="Canned responses")).to_be_hidden()
    expect(reply).to_have_value("Bonjour,\n" + expected + "\n/ref")
