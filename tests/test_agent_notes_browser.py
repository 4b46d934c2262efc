"""A note with an @mention in real browsers: the mentioned supervisor hears of it live; the visitor never does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, WebSocket, expect

from assist.models import Mention
from interactions.models import Channel
from tests.browser import website, widget_page
from tests.stack import Stack
from tests.test_widget_browser import log_in

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "refund approved, do not tell yet"


@pytest.fixture
def customer_site(stack: Stack, chat_channel: Channel) -> Iterator[str]:
    with website({"/": widget_page(desk_url=stack.base_url, channel_key=chat_channel.public_key)}) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield origin


def test_it_delivers_a_mention_live_and_never_shows_the_note_to_the_visitor(
    stack: Stack, browser: Browser, alice: Any, sophie: Any, customer_site: str
) -> None:
    agent = browser.new_context().new_page()
    log_in(agent, stack.base_url, "alice")
    supervisor = browser.new_context().new_page()
    log_in(supervisor, stack.base_url, "sophie")

    widget_frames: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: widget_frames.append(str(payload)))

    visitor = browser.new_context().new_page()
    visitor.on("websocket", watch)
    visitor.goto(customer_site)
    visitor.get_by_role("button", name="Chat with us").click()
    visitor.get_by_label("Message").fill("Bonjour, mon remboursement ?")
    visitor.get_by_role("button", name="Send").click()

    agent.get_by_role("list", name="Mine").get_by_role("link", name=re.compile("mon remboursement")).click()
    composer = agent.locator("#composer")
    expect(composer).to_have_class(re.compile("mode-reply"))
    agent.get_by_label("Internal note").check()
    expect(composer).to_have_class(re.compile("mode-note"))
    expect(agent.get_by_role("button", name="Send")).to_be_hidden()
    agent.locator("#reply-text").fill(f"@sophie {SECRET}")
    agent.get_by_role("button", name="Add note").click()
    expect(agent.get_by_role("log", name="Timeline").locator(".item.note")).to_contain_text(SECRET)

    # Live, without a reload: the supervisor's Mentions list and a status toast.
    expect(supervisor.get_by_role("list", name="Mentions")).to_contain_text(SECRET)
    expect(supervisor.locator("#desk-toast")).to_contain_text("mentioned you")
    assert Mention.objects.filter(user=sophie).count() == 1

    # A reply afterwards reaches the widget, which proves the socket was live all along; the note never did.
    agent.get_by_label("To the customer").check()
    agent.locator("#reply-text").fill("Je regarde votre dossier.")
    agent.get_by_role("button", name="Send").click()
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text("Je regarde votre dossier.")
    expect(visitor.get_by_role("log", name="Conversation")).not_to_contain_text(SECRET)
    assert any("Je regarde votre dossier." in frame for frame in widget_frames)
    assert not any(SECRET in frame or '"note"' in frame for frame in widget_frames)
    visitor.reload()
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text("Je regarde votre dossier.")
    expect(visitor.get_by_role("log", name="Conversation")).not_to_contain_text(SECRET)
