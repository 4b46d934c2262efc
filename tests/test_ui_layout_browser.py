"""The desk's layout as a person sees it at 1366×768: three panes side by side, a wide message column and a Reply
box on screen without scrolling — with an offer waiting, a 60-message thread, a note, and in French.

Elements are found by role and name, and then their boxes are compared: a layout that collapses (a pane pushed
below the fold, a one-word-wide message column) fails here even when every element still exists.
Screenshots of the main screens land in test-artifacts/screens/ (docs/screens/ holds copies for the README).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from interactions.models import Channel
from routing.models import Queue
from tests.stack import Stack
from tests.ui_support import VIEWPORT, BusyDay, box, busy_day, screenshot, signed_in_page

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offers_queue(alice: Any) -> Queue:
    """A second team's queue in offer mode, with Alice as a member: its cases are offered to her, not assigned."""
    queue = Queue.objects.create(name="Boutique", mode=Queue.Mode.OFFER, offer_timeout_seconds=3600)
    queue.members.add(alice)
    return queue


@pytest.fixture
def day(alice: Any, chat_channel: Channel, offers_queue: Queue) -> BusyDay:
    return busy_day(agent=alice, channel=chat_channel, offers_queue=offers_queue)


def open_conversation(page: Page, stack: Stack, day: BusyDay) -> None:
    page.goto(f"{stack.base_url}/desk/conversations/{day.conversation.pk}/")
    expect(page.locator("#timeline")).to_contain_text(day.last_text)


def assert_three_panes(page: Page) -> None:
    """Lists | conversation | customer panel, side by side, the Reply box fully on screen, no page scroll."""
    lists = box(page.get_by_role("navigation", name=re.compile("Conversations")))
    timeline = box(page.get_by_role("log"))
    panel = box(page.get_by_role("complementary"))
    reply = box(page.locator("#reply-text"))
    assert lists["x"] + lists["width"] <= timeline["x"] + 1, (lists, timeline)
    assert timeline["x"] + timeline["width"] <= panel["x"] + 1, (timeline, panel)
    assert timeline["width"] >= 400, timeline
    assert reply["width"] >= 400, reply
    assert reply["y"] >= 0 and reply["y"] + reply["height"] <= VIEWPORT["height"], reply
    # No pane was pushed below another: the conversation and the panel start together, the lists in the top half
    # (under the offers, when there are some).
    assert abs(timeline["y"] - panel["y"]) <= 1 and lists["y"] < VIEWPORT["height"] / 2, (lists, timeline, panel)
    scroll = page.evaluate("[window.scrollY, document.documentElement.scrollHeight, window.innerHeight]")
    assert scroll[0] == 0 and scroll[1] <= scroll[2], f"the page itself scrolls: {scroll}"


def test_it_lays_out_lists_conversation_and_customer_panel_side_by_side_with_an_offer_and_a_long_thread(
    stack: Stack, browser: Browser, alice: Any, day: BusyDay
) -> None:
    page = signed_in_page(browser, stack, alice)
    page.goto(f"{stack.base_url}/desk/")
    offers = page.get_by_role("list", name="Offers")
    expect(offers.get_by_role("listitem")).to_have_count(1)
    expect(page.get_by_role("heading", name="No conversation selected")).to_be_visible()
    # The offer sits in the lists' column, above Mine, not in a column of its own.
    offer_box, mine_box = box(offers), box(page.get_by_role("list", name=re.compile("Mine")))
    assert offer_box["y"] < mine_box["y"] and abs(offer_box["x"] - mine_box["x"]) < 40, (offer_box, mine_box)
    screenshot(page, "desk")
    # The filters open inside the lists' column, aligned with the search box (they once hung at the window's edge).
    page.get_by_text("Filters", exact=True).click()
    search, status = box(page.get_by_role("searchbox", name="Search conversations")), box(page.get_by_label("Status"))
    lists = box(page.get_by_role("navigation", name=re.compile("Conversations")))
    assert status["x"] + status["width"] <= search["x"] + search["width"] + 1, (status, search)
    assert box(page.get_by_text("Filters", exact=True))["x"] >= search["x"] - 1 >= lists["x"], (search, lists)
    screenshot(page, "desk-filters")

    open_conversation(page, stack, day)
    assert_three_panes(page)
    timeline = page.get_by_role("log", name="Timeline")
    expect(timeline.get_by_role("listitem")).to_have_count(61)  # 60 messages and the note
    # The thread scrolls inside its pane, newest entry in view; the first one is above it.
    expect(timeline.get_by_text(day.last_text).last).to_be_in_viewport()
    expect(timeline.get_by_text(day.first_text)).not_to_be_in_viewport()
    message = box(timeline.get_by_text(day.last_text).last)
    assert message["width"] >= 250, f"message column collapsed: {message}"
    expect(page.get_by_role("button", name="Resolve")).to_be_in_viewport()
    expect(offers.get_by_role("listitem")).to_have_count(1)
    expect(page.get_by_role("link", name=re.compile("Carla Martin")).first).to_have_attribute("aria-current", "page")
    screenshot(page, "conversation")

    page.get_by_role("textbox", name="Reply").fill("Je corrige la facture et vous envoie un avoir.")
    page.get_by_role("button", name="Send").click()
    expect(timeline.get_by_text("Je corrige la facture et vous envoie un avoir.")).to_be_in_viewport()
    expect(page.get_by_role("textbox", name="Reply")).to_have_value("")
    assert_three_panes(page)


def test_it_keeps_the_layout_with_french_labels(stack: Stack, browser: Browser, alice: Any, day: BusyDay) -> None:
    page = signed_in_page(browser, stack, alice, locale="fr-FR")
    open_conversation(page, stack, day)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("button", name="Résoudre")).to_be_in_viewport()
    expect(page.get_by_role("list", name="Propositions").get_by_role("listitem")).to_have_count(1)
    assert_three_panes(page)
    # The action buttons fit in the header row beside the customer's name.
    header = box(page.locator(".conversation-header"))
    assert header["height"] <= 130, header
    screenshot(page, "conversation-fr")


def test_it_collapses_to_one_column_on_a_narrow_screen(
    stack: Stack, browser: Browser, alice: Any, day: BusyDay
) -> None:
    page = signed_in_page(browser, stack, alice)
    page.set_viewport_size({"width": 820, "height": 900})
    open_conversation(page, stack, day)
    lists = box(page.get_by_role("navigation", name=re.compile("Conversations")))
    timeline = box(page.get_by_role("log"))
    reply = box(page.get_by_role("textbox", name="Reply"))
    # Stacked: the lists above the conversation, both as wide as the screen, nothing cut off on the right.
    assert lists["y"] + lists["height"] <= timeline["y"] + 1, (lists, timeline)
    assert timeline["width"] >= 760 and reply["width"] >= 600, (timeline, reply)
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    screenshot(page, "conversation-narrow", full_page=True)


def test_it_styles_the_360_page_the_supervisor_view_and_the_widget(
    stack: Stack, browser: Browser, alice: Any, sophie: Any, chat_channel: Channel, day: BusyDay
) -> None:
    page = signed_in_page(browser, stack, alice)
    page.goto(f"{stack.base_url}/customers/{day.carla.pk}/")
    expect(page.get_by_role("heading", name="Carla Martin", level=1)).to_be_visible()
    profile = box(page.get_by_role("region", name="Profile"))
    timeline = box(page.get_by_role("region", name="Timeline"))
    assert profile["x"] + profile["width"] <= timeline["x"] and timeline["width"] >= 600, (profile, timeline)
    screenshot(page, "customer-360")

    supervisor = signed_in_page(browser, stack, sophie)
    supervisor.goto(f"{stack.base_url}/desk/supervisor/")
    live = supervisor.get_by_role("status").filter(has_text="Live")
    expect(live).to_be_visible()
    expect(live).to_have_class(re.compile("is-live"))
    queues = box(supervisor.get_by_role("table", name="Queues"))
    agents = box(supervisor.get_by_role("table", name="Agents"))
    assert queues["x"] + queues["width"] <= agents["x"], (queues, agents)
    screenshot(supervisor, "supervisor")

    # The demo customer website the desk serves (/widget/demo/), with the widget open, as a visitor sees it.
    Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[stack.base_url])
    visitor = browser.new_context(viewport=VIEWPORT).new_page()
    visitor.goto(f"{stack.base_url}/widget/demo/")
    expect(visitor.get_by_role("heading", level=1)).to_have_css("font-size", "25.6px")  # demo-site.css loaded
    visitor.get_by_role("button", name="Chat with us").click()
    visitor.get_by_label("Message").fill("Bonjour, ma facture de novembre est fausse")
    visitor.get_by_role("button", name="Send").click()
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text("ma facture de novembre")
    screenshot(visitor, "widget")
