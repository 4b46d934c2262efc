"""Filtered conversation lists stay live in Chromium (issue 15, item 7): a new conversation that does not match the
filters never appears; one that matches does, without a reload."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from interactions.models import Channel
from tests.factories import widget_message
from tests.stack import Stack
from tests.test_widget_browser import log_in

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_keeps_a_searched_list_live_without_showing_what_does_not_match(
    stack: Stack, browser: Browser, alice: Any, chat_channel: Channel
) -> None:
    page = browser.new_context().new_page()
    log_in(page, stack.base_url, "alice")
    mine = page.get_by_role("list", name="Mine")

    widget_message(chat_channel, text="Bonjour, une question")
    expect(mine.get_by_role("link")).to_have_count(1)  # unfiltered, live as before

    page.get_by_role("searchbox", name="Search conversations").fill("remboursement")
    expect(page).to_have_url(re.compile(r"q=remboursement"))
    expect(mine.get_by_role("link")).to_have_count(0)
    expect(mine).to_contain_text("No conversation matches these filters.")

    widget_message(chat_channel, text="Ma facture est fausse")
    widget_message(chat_channel, text="Mon remboursement, svp")
    matching = mine.get_by_role("link")
    expect(matching).to_have_count(1)
    page.wait_for_timeout(1500)  # a late frame of the non-matching one must not bring it in
    expect(matching).to_have_count(1)
    assert "Ma facture" not in mine.inner_text()

    page.get_by_role("searchbox", name="Search conversations").fill("")
    expect(mine.get_by_role("link")).to_have_count(3)


def test_it_filters_by_channel_from_the_filters_menu(
    stack: Stack, browser: Browser, alice: Any, chat_channel: Channel
) -> None:
    page = browser.new_context().new_page()
    log_in(page, stack.base_url, "alice")
    mine = page.get_by_role("list", name="Mine")
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Channel").select_option("email")
    expect(page).to_have_url(re.compile(r"channel=email"))
    widget_message(chat_channel, text="Bonjour")
    page.wait_for_timeout(1500)
    expect(mine.get_by_role("link")).to_have_count(0)
    page.get_by_label("Channel").select_option("chat")
    expect(mine.get_by_role("link")).to_have_count(1)
