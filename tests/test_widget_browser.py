"""The whole spine in a real browser: a customer's website on another origin, the widget, the worker, the desk."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from interactions.models import Channel, Interaction
from tests.browser import website, widget_page
from tests.conftest import PASSWORD
from tests.stack import Stack

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def customer_site(stack: Stack, chat_channel: Channel) -> Iterator[str]:
    """A customer's own website, on its own origin, embedding the widget with the one-line snippet."""
    with website({"/": widget_page(desk_url=stack.base_url, channel_key=chat_channel.public_key)}) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield origin


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def test_it_carries_a_chat_from_a_customers_website_to_the_agent_and_back(
    stack: Stack, browser: Browser, alice: Any, customer_site: str
) -> None:
    agent = browser.new_context().new_page()
    log_in(agent, stack.base_url, "alice")

    visitor = browser.new_context().new_page()
    visitor.goto(customer_site)
    visitor.get_by_role("button", name="Chat with us").click()
    visitor.get_by_label("Message").fill("Bonjour, ma facture est fausse")
    visitor.get_by_role("button", name="Send").click()

    # The agent never reloads: the conversation arrives in "Mine" over the websocket.
    mine = agent.get_by_role("list", name="Mine")
    conversation_link = mine.get_by_role("link", name=re.compile("ma facture est fausse"))
    expect(conversation_link).to_be_visible()
    conversation_link.click()
    expect(agent.get_by_role("log", name="Timeline")).to_contain_text("Bonjour, ma facture est fausse")
    agent.get_by_label("Reply").fill("Je regarde votre facture tout de suite.")
    agent.get_by_role("button", name="Send").click()

    conversation_log = visitor.get_by_role("log", name="Conversation")
    expect(conversation_log).to_contain_text("Je regarde votre facture tout de suite.")
    expect(
        agent.get_by_role("log", name="Timeline").get_by_text("Je regarde votre facture tout de suite.")
    ).to_have_count(1)

    # The customer's next message reaches the open conversation live as well.
    visitor.get_by_label("Message").fill("Merci !")
    visitor.get_by_role("button", name="Send").click()
    expect(agent.get_by_role("log", name="Timeline")).to_contain_text("Merci !")

    # A reload keeps the conversation: token in localStorage, history from the server.
    visitor.reload()
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text("Je regarde votre facture tout de suite.")
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text("Bonjour, ma facture est fausse")
    assert Interaction.objects.filter(text="Bonjour, ma facture est fausse").count() == 1


def test_it_shows_the_demo_page_with_the_widget(stack: Stack, browser: Browser, chat_channel: Channel) -> None:
    Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[stack.base_url])
    page = browser.new_context().new_page()
    page.goto(f"{stack.base_url}/widget/demo/")
    page.get_by_role("button", name="Chat with us").click()
    expect(page.get_by_role("dialog", name="Chat")).to_be_visible()
    expect(page.get_by_label("Message")).to_be_editable()
