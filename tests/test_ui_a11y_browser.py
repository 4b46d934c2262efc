"""The desk for people who use a keyboard or a screen reader: landmarks, a name on every control, visible focus,
and a conversation opened and answered with the keyboard alone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from interactions.models import Channel
from routing.models import Queue
from tests.stack import Stack
from tests.ui_support import BusyDay, busy_day, signed_in_page

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A line of an ARIA snapshot for a control with no accessible name, e.g. `- button` or `- combobox [disabled]`.
UNNAMED = re.compile(r"^\s*- (button|link|textbox|combobox|checkbox|radio|searchbox|spinbutton)(\s*\[[^\]]*\])*:?\s*$")


@pytest.fixture
def day(alice: Any, chat_channel: Channel) -> BusyDay:
    offers = Queue.objects.create(name="Boutique", mode=Queue.Mode.OFFER, offer_timeout_seconds=3600)
    offers.members.add(alice)
    return busy_day(agent=alice, channel=chat_channel, offers_queue=offers, messages=6)


def tab_to(page: Page, predicate: str, *, limit: int = 60) -> None:
    """Press Tab until `predicate` (JS, about document.activeElement) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({predicate}); }})()"):
            return
    raise AssertionError(f"Tab never reached: {predicate}")


def test_it_names_every_control_and_marks_the_landmarks(
    stack: Stack, browser: Browser, alice: Any, day: BusyDay
) -> None:
    page = signed_in_page(browser, stack, alice)
    for path in ("/desk/", f"/desk/conversations/{day.conversation.pk}/", f"/customers/{day.carla.pk}/"):
        page.goto(f"{stack.base_url}{path}")
        snapshot = page.locator("body").aria_snapshot()
        unnamed = [line for line in snapshot.splitlines() if UNNAMED.match(line)]
        assert unnamed == [], f"{path}: controls without a name: {unnamed}"
        expect(page.get_by_role("banner")).to_have_count(1)
        expect(page.get_by_role("main")).to_have_count(1)
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("link", name="Skip to content")).to_have_count(1)
    page.goto(f"{stack.base_url}/desk/conversations/{day.conversation.pk}/")
    expect(page.get_by_role("navigation", name="Conversations")).to_be_visible()
    expect(page.get_by_role("complementary", name="Customer")).to_be_visible()
    expect(page.get_by_role("log", name="Timeline")).to_be_visible()


def test_it_opens_and_answers_a_conversation_with_the_keyboard_alone(
    stack: Stack, browser: Browser, alice: Any, day: BusyDay
) -> None:
    page = signed_in_page(browser, stack, alice)
    page.goto(f"{stack.base_url}/desk/")
    tab_to(page, f"el.closest('#conv-{day.conversation.pk}')")
    # The focused control is visibly marked (an outline drawn by :focus-visible).
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.get_by_role("log", name="Timeline")).to_contain_text(day.last_text)

    tab_to(page, "el.id === 'reply-text'")
    page.keyboard.type("Je vous rappelle dans l'après-midi.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Send"
    page.keyboard.press("Enter")
    expect(page.get_by_role("log", name="Timeline")).to_contain_text("Je vous rappelle dans l'après-midi.")

    # The action menus open from the keyboard too.
    tab_to(page, "el.tagName === 'SUMMARY' && el.textContent.trim() === 'Transfer'", limit=200)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Transfer note")).to_be_visible()
