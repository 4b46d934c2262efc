"""The widget in Chromium: it forgets a logged-out user's chat, renders hostile text as text, and retries what a
rate limit refused until every message is stored once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from customers.models import Customer
from interactions import visitors
from interactions.models import Channel, Interaction
from interactions.services import reply_to_conversation
from tests.browser import website, widget_page
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(stack: Stack, chat_channel: Channel) -> Iterator[str]:
    signature = visitors.sign_visitor_email(channel=chat_channel, email="jeanne@example.com")
    pages = {
        "/": widget_page(desk_url=stack.base_url, channel_key=chat_channel.public_key),
        "/account": widget_page(
            desk_url=stack.base_url,
            channel_key=chat_channel.public_key,
            attributes={"email": "jeanne@example.com", "name": "Jeanne", "identifier-hash": signature},
        ),
    }
    with website(pages) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield origin


def test_it_forgets_the_logged_out_users_chat_on_the_next_page(
    browser: Browser, jeanne: Customer, chat_channel: Channel, shop: str
) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{shop}/account")
    page.get_by_role("button", name="Chat with us").click()
    expect(page.get_by_role("log", name="Conversation")).to_contain_text("Ma commande 4521")
    key = f"omnidesk:{chat_channel.public_key}:token"
    signed_token = page.evaluate(f"localStorage.getItem('{key}')")
    assert signed_token

    # Jeanne logs out of the shop: the next page of this browser passes no identity.
    page.goto(f"{shop}/")
    # The panel stays open across pages of the tab (session storage).
    expect(page.get_by_role("button", name="Chat with us")).to_have_attribute("aria-expanded", "true")
    log = page.get_by_role("log", name="Conversation")
    page.get_by_label("Message").fill("Qui suis-je ?")
    page.get_by_role("button", name="Send").click()
    expect(log).to_contain_text("Qui suis-je ?")
    expect(log).not_to_contain_text("Ma commande 4521")
    assert page.evaluate(f"localStorage.getItem('{key}')") not in (None, signed_token)
    # The widget itself dropped what belonged to Jeanne (the server would refuse her token anyway).
    assert page.evaluate(f"localStorage.getItem('omnidesk:{chat_channel.public_key}:identity')") is None
    wait_until(lambda: Interaction.objects.filter(text="Qui suis-je ?").exists(), timeout=15, message="stored")
    assert Interaction.objects.get(text="Qui suis-je ?").customer_id != jeanne.pk


def test_it_shows_hostile_agent_text_as_text_and_runs_none_of_it(
    browser: Browser, alice: Any, chat_channel: Channel, shop: str
) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{shop}/")
    page.get_by_role("button", name="Chat with us").click()
    page.get_by_label("Message").fill("<script>window.__pwned = 'visitor'</script>")
    page.get_by_role("button", name="Send").click()
    wait_until(lambda: Interaction.objects.filter(channel=chat_channel).exists(), timeout=15, message="stored")
    conversation = Interaction.objects.get(channel=chat_channel).conversation
    hostile = "<img src=x onerror=\"window.__pwned='agent'\"><b>gras</b>"
    reply_to_conversation(conversation=conversation, author=alice, text=hostile)

    log = page.get_by_role("log", name="Conversation")
    expect(log).to_contain_text(hostile)
    expect(log).to_contain_text("<script>window.__pwned = 'visitor'</script>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("[data-omnidesk-widget] b").count() == 0


def test_it_sends_again_what_the_rate_limit_refused_until_everything_is_stored_once(
    browser: Browser, alice: Any, chat_channel: Channel, shop: str
) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{shop}/")
    page.get_by_role("button", name="Chat with us").click()
    log = page.get_by_role("log", name="Conversation")
    texts = [f"Message rapide {n}" for n in range(14)]
    for text in texts:  # faster than the visitor's budget (a burst of 10, then one a second)
        page.get_by_label("Message").fill(text)
        page.get_by_label("Message").press("Enter")
    expect(log).to_contain_text(texts[-1])

    def all_stored() -> bool:
        return Interaction.objects.filter(channel=chat_channel, text__in=texts).count() == len(texts)

    wait_until(all_stored, timeout=40, message="every message to be stored")
    assert sorted(Interaction.objects.filter(channel=chat_channel).values_list("text", flat=True)) == sorted(texts)
    expect(page.locator("[data-omnidesk-widget] .msg.failed")).to_have_count(0)
    wait_until(lambda: page.evaluate("window.OmnideskWidget.state().outbox") == 0, timeout=15, message="outbox")
