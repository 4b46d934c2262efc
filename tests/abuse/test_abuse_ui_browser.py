"""Abuse suite, UI share: HTML and script payloads in every text field the desk renders, checked in Chromium.

Each payload goes, through the real services and the ORM, into a customer's name, their queue's name, a chat
message from them and a reply to them, an internal note and an email subject; then the desk's lists, the open
conversation, the 360° page, the customer search, the supervisor view and the visitor's widget are loaded.
Expected outcome for every payload: neutralized — no script runs (no dialog, `window.__pwned` never set, no
injected element or `javascript:` link exists) and the payload is shown as the text it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.db import transaction
from playwright.sync_api import Browser, Dialog, Page, expect

from customers.models import Customer, Identity
from interactions.models import Channel, Conversation, Interaction
from interactions.services import receive_message, reply_to_conversation
from routing.models import Queue
from tests.browser import website, widget_page
from tests.stack import Stack
from tests.ui_support import signed_in_page

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

P = "window.__pwned=1"
# One id per hostile input. Each must fit a queue name (100 characters with the "Q " prefix).
PAYLOADS: dict[str, str] = {
    "script-tag": f"<script>{P}</script>",
    "img-onerror": f'<img src=x onerror="{P}">',
    "svg-onload": f'<svg onload="{P}">',
    "svg-nested-script": f"<svg><script>{P}</script></svg>",
    "attr-breakout-double": f'"><script>{P}</script>',
    "attr-breakout-single": f"'><img src=x onerror={P}>",
    "attr-handler-double": f'" onmouseover="{P}" x="',
    "attr-handler-single": f"' onfocus='{P}' autofocus='",
    "javascript-link": f'<a href="javascript:{P}">click me</a>',
    "javascript-bare": f"javascript:{P}",
    "javascript-entity-link": f'<a href="&#106;avascript:{P}">x</a>',
    "django-template": "{{7*7}} {% debug %}",
    "js-template-literal": "${7*7} #{7*7} <%= 7*7 %>",
    "iframe-javascript": f'<iframe src="javascript:{P}"></iframe>',
    "body-onload": f"<body onload={P}>",
    "details-ontoggle": f"<details open ontoggle={P}>",
    "input-autofocus": f"<input autofocus onfocus={P}>",
    "textarea-breakout": f"</textarea><script>{P}</script>",
    "title-breakout": f"</title><script>{P}</script>",
    "style-block": "<style>body{display:none!important}</style>",
    "style-attribute": '<div style="position:fixed;inset:0;background:red" id="overlay">x</div>',
    "mutation-math": f"<math><mtext><table><mglyph><style><img src=x onerror={P}>",
    "noscript-breakout": f'<noscript><p title="</noscript><img src=x onerror={P}>">',
    "double-encoded": f"&lt;script&gt;{P}&lt;/script&gt;",
    "unicode-escapes": f"\\u003cscript\\u003e{P}\\u003c/script\\u003e",
    "fullwidth-brackets": f"＜script＞{P}＜/script＞",
    "rtl-override": f"\u202e<img src=x onerror={P}>",
    "zero-width-tag": f"<scr\u200bipt>{P}</scr\u200bipt>",
    "object-data": f'<object data="javascript:{P}"></object>',
    "embed-data-url": '<embed src="data:text/html,<script>parent.__pwned=1</script>">',
    "meta-refresh": f'<meta http-equiv="refresh" content="0;url=javascript:{P}">',
    "base-href": '<base href="javascript:/">',
    "form-action": f'<form action="javascript:{P}"><button>go</button></form>',
    "template-tag": f"<template><img src=x onerror={P}></template>",
    "video-source": f'<video><source onerror="{P}"></video>',
    "htmx-attributes": '<div hx-get="/desk/supervisor/" hx-trigger="load" hx-target="body">hx</div>',
    "comment-opener": "<!-- everything after me disappears",
    "cdata-breakout": f"]]><script>{P}</script>",
}
PROBE = "window.__pwned = undefined;"
INJECTED = (
    "#overlay, a[href^='javascript'], iframe[src^='javascript'], object, embed, base, [hx-get='/desk/supervisor/']"
)


@dataclass
class Scene:
    conversation: Conversation
    customer: Customer
    payload: str
    message: Interaction
    reply: Interaction
    note: Interaction


@pytest.fixture(params=list(PAYLOADS.values()), ids=list(PAYLOADS.keys()))
def scene(request: pytest.FixtureRequest, alice: Any, support_queue: Queue, chat_channel: Channel) -> Scene:
    """The payload in every rendered field: customer name, queue name, message, reply, note, email subject."""
    payload: str = request.param
    Queue.objects.filter(pk=support_queue.pk).update(name=f"Q {payload}")
    customer = Customer.objects.create(display_name=payload)
    Identity.objects.create(customer=customer, kind=Identity.Kind.WIDGET, address=uuid.uuid4().hex)
    email = Channel.objects.create(kind=Channel.Kind.EMAIL, name="Support mailbox", queue=support_queue)
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        first = receive_message(customer=customer, channel=chat_channel, external_id=uuid.uuid4().hex, text=payload)
        receive_message(
            customer=customer, channel=email, external_id=uuid.uuid4().hex, text="Mail body", meta={"subject": payload}
        )
    conversation = Conversation.objects.get(pk=first.conversation_id)
    reply = reply_to_conversation(conversation=conversation, author=alice, text=f"Re: {payload}")
    note = Interaction.objects.create(
        conversation=conversation,
        customer=customer,
        channel=chat_channel,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=alice,
        text=f"Note: {payload}",
    )
    # Compared with what was stored: a service may normalise text (e.g. strip control characters) before storing.
    first.refresh_from_db()
    reply.refresh_from_db()
    return Scene(conversation=conversation, customer=customer, payload=payload, message=first, reply=reply, note=note)


@pytest.fixture
def dialogs() -> list[str]:
    return []


def probed(page: Page, dialogs: list[str]) -> Page:
    page.add_init_script(PROBE)

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


def assert_inert(page: Page, dialogs: list[str]) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate("window.__pwned") is None, f"a payload ran on {page.url}"
    assert dialogs == []
    assert page.locator(INJECTED).count() == 0, f"an injected element exists on {page.url}"
    expect(page.locator("body")).to_be_visible()


@pytest.fixture
def visitor_site(stack: Stack, chat_channel: Channel) -> Iterator[str]:
    with website({"/": widget_page(desk_url=stack.base_url, channel_key=chat_channel.public_key)}) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield origin


def test_it_shows_the_payload_as_text_in_the_desk_the_360_page_search_and_supervisor_view(
    stack: Stack, browser: Browser, alice: Any, sophie: Any, scene: Scene, dialogs: list[str]
) -> None:
    payload, base = scene.payload, stack.base_url
    agent = probed(signed_in_page(browser, stack, alice), dialogs)

    agent.goto(f"{base}/desk/")
    expect(agent.get_by_role("list", name="Mine")).to_contain_text(payload)
    assert_inert(agent, dialogs)

    agent.goto(f"{base}/desk/conversations/{scene.conversation.pk}/")
    timeline = agent.get_by_role("log", name="Timeline")
    expect(agent.get_by_role("heading", level=1)).to_have_text(payload)
    expect(timeline.locator(f"#interaction-{scene.message.pk} .text")).to_have_text(scene.message.text)
    expect(timeline.locator(f"#interaction-{scene.reply.pk} .text")).to_have_text(scene.reply.text)
    expect(timeline.locator(f"#interaction-{scene.note.pk} .text")).to_have_text(scene.note.text)
    expect(timeline.locator(".email-subject")).to_contain_text(payload)
    expect(agent.locator(".conversation-header .meta")).to_contain_text(f"Q {payload}")
    expect(agent.get_by_role("textbox", name="Reply")).to_be_visible()
    assert_inert(agent, dialogs)

    agent.goto(f"{base}/customers/{scene.customer.pk}/")
    expect(agent.get_by_role("heading", level=1)).to_have_text(payload)
    expect(agent.locator("#customer-timeline")).to_contain_text(f"Note: {payload}")
    assert_inert(agent, dialogs)

    agent.goto(f"{base}/customers/search/?q={quote(payload)}")
    expect(agent.get_by_label("Search customers")).to_have_value(payload)
    assert_inert(agent, dialogs)

    supervisor = probed(signed_in_page(browser, stack, sophie), dialogs)
    supervisor.goto(f"{base}/desk/supervisor/")
    expect(supervisor.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(supervisor.get_by_role("table", name="Queues")).to_contain_text(f"Q {payload}")
    expect(supervisor.get_by_role("table", name="Open conversations")).to_contain_text(payload)
    assert_inert(supervisor, dialogs)


@pytest.mark.parametrize(
    "payload",
    [PAYLOADS[key] for key in ("script-tag", "img-onerror", "svg-onload", "attr-breakout-double", "style-block")],
    ids=["widget-script-tag", "widget-img-onerror", "widget-svg-onload", "widget-attr-breakout", "widget-style"],
)
def test_it_shows_the_payload_as_text_in_the_visitors_widget_and_the_agents_desk(
    stack: Stack, browser: Browser, alice: Any, visitor_site: str, payload: str, dialogs: list[str]
) -> None:
    visitor = probed(browser.new_context().new_page(), dialogs)
    agent = probed(signed_in_page(browser, stack, alice), dialogs)
    agent.goto(f"{stack.base_url}/desk/")
    expect(agent.get_by_role("status").filter(has_text="Live")).to_be_visible()

    visitor.goto(visitor_site)
    visitor.get_by_role("button", name="Chat with us").click()
    visitor.get_by_label("Message").fill(payload)
    visitor.get_by_role("button", name="Send").click()
    # The desk's live list shows it (the preview is inserted by desk.js), then the agent answers with it.
    expect(agent.get_by_role("list", name="Mine")).to_contain_text(payload)
    conversation = Conversation.objects.get(assignee=alice)
    reply_to_conversation(conversation=conversation, author=alice, text=f"Re: {payload}")
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text(f"Re: {payload}")
    expect(visitor.get_by_role("log", name="Conversation")).to_contain_text(payload)
    assert_inert(visitor, dialogs)
    assert_inert(agent, dialogs)
