"""The supervisors' queue view in a real browser: it follows enqueues and assignments live, without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from interactions.models import Channel
from routing.models import AgentProfile
from routing.services import set_presence
from tests.conftest import PASSWORD
from tests.factories import widget_message
from tests.stack import Stack

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_updates_the_queue_view_live_when_an_item_is_enqueued_and_then_assigned(
    stack: Stack, browser: Browser, sophie: Any, alice: Any, chat_channel: Channel
) -> None:
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    page = browser.new_context().new_page()
    page.goto(f"{stack.base_url}/accounts/login/?next=/desk/supervisor/")
    page.get_by_label("Username").fill("sophie")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()

    queues = page.get_by_role("table", name="Queues")
    support = queues.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Support"))
    agents = page.get_by_role("table", name="Agents")
    alice_row = agents.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Alice"))
    expect(support.get_by_role("cell").nth(0)).to_have_text("0")
    expect(alice_row.get_by_role("cell").nth(0)).to_have_text("Away")

    widget_message(chat_channel, text="Bonjour, ma commande n'arrive pas")
    expect(support.get_by_role("cell").nth(0)).to_have_text("1")

    set_presence(user=alice, presence=AgentProfile.Presence.AVAILABLE)
    expect(support.get_by_role("cell").nth(0)).to_have_text("0")
    expect(alice_row.get_by_role("cell").nth(0)).to_have_text("Available")
    expect(alice_row.get_by_role("cell").nth(1)).to_have_text("1/3")
