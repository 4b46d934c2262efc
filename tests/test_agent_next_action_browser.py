"""Next best action in Chromium (issue 15, item 4): the panel ranks the scripted history; one click inserts the
canned text in the composer and is recorded; dismissing takes the suggestion away."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from assist.models import SuggestionFeedback
from interactions.models import Channel
from routing.models import Queue
from tests.stack import Stack, wait_until
from tests.test_agent_next_action import scripted_history
from tests.test_widget_browser import log_in
from tests.ui_support import screenshot

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_applies_and_dismisses_suggestions_from_the_panel(
    stack: Stack,
    browser: Browser,
    alice: Any,
    fiona: Any,
    fraud_queue: Queue,
    chat_channel: Channel,
    email_channel: Channel,
    hotline: Channel,
) -> None:
    history = scripted_history(chat=chat_channel, email=email_channel, fraud=fraud_queue, alice=alice, fiona=fiona)
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    log_in(page, stack.base_url, "alice")
    page.goto(f"{stack.base_url}/desk/conversations/{history.current.pk}/")

    panel = page.get_by_role("region", name="Next best action")
    items = panel.get_by_role("listitem")
    expect(items.nth(0)).to_contain_text("Reply with “Facturation”")
    expect(items.nth(1)).to_contain_text(f"Open case #{history.other_open.pk}")
    expect(items.nth(2)).to_contain_text("Offer a callback")
    expect(items.nth(2)).to_contain_text("The customer already contacted us 2 times about “Billing”.")
    screenshot(page, "next-best-action")

    items.nth(0).get_by_role("button", name="Insert").click()
    expect(page.get_by_role("textbox", name="Reply")).to_have_value("Bonjour Camille, je regarde votre facture.")
    wait_until(
        lambda: SuggestionFeedback.objects.filter(key="canned:billing", outcome="accepted").exists(),
        timeout=10,
        message="the applied suggestion to be recorded",
    )

    callback = panel.get_by_role("listitem").filter(has_text="Offer a callback")
    callback.get_by_role("button", name="Dismiss").click()
    expect(panel.get_by_role("listitem").filter(has_text="Offer a callback")).to_have_count(0)
    assert SuggestionFeedback.objects.filter(key="callback", outcome="dismissed").count() == 1
