"""In a real browser: the desk tells the agent that WhatsApp's 24-hour window is closed and sends a template."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from interactions.models import Channel, Interaction
from routing.models import Queue
from tests import signing
from tests.messaging_support import (
    META_SECRET,
    FakeProvider,
    make_channel,
    whatsapp_envelope,
    whatsapp_text,
)
from tests.stack import Stack, wait_until
from tests.test_widget_browser import log_in

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_offers_only_approved_templates_once_the_whatsapp_window_has_closed(
    stack: Stack, browser: Browser, alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    body = json.dumps(whatsapp_envelope(messages=[whatsapp_text("wamid.OLD", "Ma commande ?")])).encode()
    answer = httpx.post(
        f"{stack.base_url}/hooks/meta/{channel.uuid}/",
        content=body,
        headers={
            "X-Hub-Signature-256": signing.meta_signature(secret=META_SECRET, body=body),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 200
    stored = Interaction.objects.filter(channel=channel, external_id="wamid.OLD")
    wait_until(stored.exists, timeout=15, message="the worker to file the message")
    stored.update(created_at=timezone.now() - timedelta(hours=30))
    conversation_id = stored.get().conversation_id

    page = browser.new_context().new_page()
    log_in(page, stack.base_url, "alice")
    page.goto(f"{stack.base_url}/desk/conversations/{conversation_id}/")
    expect(page.get_by_role("alert")).to_contain_text("24-hour window is closed")
    page.get_by_label("Approved template").select_option("order_update")
    page.get_by_role("button", name="Send template").click()
    expect(page.get_by_role("log", name="Timeline")).to_contain_text("Bonjour, votre commande a avancé.")

    wait_until(lambda: provider.sent(r"/1065550001/messages"), timeout=15, message="the worker to send the template")
    [request] = provider.sent(r"/1065550001/messages")
    assert request.json["template"]["name"] == "order_update"
