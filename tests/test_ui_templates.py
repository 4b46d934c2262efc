"""What the desk's templates promise the views: a redacted timeline entry shows metadata and a neutral line, never
its text; reply, resolve, transfer and status controls appear only when the view says the agent may act.

The context names are the contract with the views (interactions/views.py, customers/views.py):
`may_act` (bool, the open conversation's actions) and `redacted` (an attribute of a timeline entry or open case).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from customers import selectors as customer_selectors
from customers.models import Customer
from interactions import selectors
from interactions.models import Channel, Conversation, Interaction
from tests.ui_support import chat_from

pytestmark = pytest.mark.django_db

SECRET = "Fraude : carte volée, IBAN FR76 3000 6000 0112 3456 7890 189"


@pytest.fixture
def conversation(alice: Any, chat_channel: Channel) -> Conversation:
    carla = Customer.objects.create(display_name="Carla")
    first = chat_from(chat_channel, carla, SECRET)
    return Conversation.objects.select_related("customer", "channel", "queue").get(pk=first.conversation_id)


def conversation_html(alice: Any, conversation: Conversation, **extra: Any) -> str:
    request = RequestFactory().get(f"/desk/conversations/{conversation.pk}/")
    request.user = alice
    timeline = list(reversed(selectors.customer_timeline(conversation.customer)))
    context = {
        "conversation": conversation,
        "timeline": timeline,
        "reply_channels": [],
        "summary_days": customer_selectors.SUMMARY_DAYS,
        **extra,
    }
    return render_to_string("desk/desk.html#conversation", context, request=request)


def test_it_shows_a_redacted_entry_as_metadata_and_a_neutral_line(alice: Any, conversation: Conversation) -> None:
    entry = Interaction.objects.select_related("channel", "conversation__queue").get(conversation=conversation)
    entry.redacted = True  # type: ignore[attr-defined]  # set by the visibility selector for non-members
    html = conversation_html(alice, conversation, timeline=[entry], may_act=False)
    assert "Confidential — details hidden" in html
    assert SECRET not in html
    assert 'class="item redacted"' in html and "Website chat" in html and "Support" in html


def test_it_shows_a_redacted_entry_on_the_360_page_without_its_text(alice: Any, conversation: Conversation) -> None:
    entry = Interaction.objects.select_related("channel", "conversation__queue").get(conversation=conversation)
    entry.redacted = True  # type: ignore[attr-defined]
    request = RequestFactory().get("/")
    request.user = alice
    html = render_to_string(
        "customers/detail.html#timeline-page", {"customer": conversation.customer, "timeline": [entry]}, request
    )
    assert "Confidential — details hidden" in html and SECRET not in html


def test_it_shows_the_actions_and_the_composer_only_when_the_agent_may_act(
    alice: Any, conversation: Conversation
) -> None:
    acting = conversation_html(alice, conversation, may_act=True)
    assert 'id="composer"' in acting and "Resolve" in acting and 'aria-label="Conversation actions"' in acting
    for reading in (conversation_html(alice, conversation, may_act=False), conversation_html(alice, conversation)):
        assert 'id="composer"' not in reading and "Resolve" not in reading and "Transfer" not in reading
        assert "You can read this conversation but not act on it" in reading
        assert SECRET in reading  # reading is still allowed: only the controls are gone


def test_it_says_what_to_do_when_no_conversation_is_open(alice: Any) -> None:
    request = RequestFactory().get("/desk/")
    request.user = alice
    html = render_to_string("desk/desk.html#conversation", {}, request=request)
    assert "No conversation selected" in html and "Pick one from Mine or Queue, or wait for an offer." in html
