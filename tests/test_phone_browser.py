"""A whole call on alice's desk in a real browser: the pop opens the call, the entry follows the call live, and the
wrap-up form ends after-call work with a disposition."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from customers.models import Customer
from interactions.models import Channel, Conversation
from interactions.phone.models import Call, Disposition
from tests.phone_factories import cti_body, give_phone, send_live
from tests.stack import Stack
from tests.test_widget_browser import log_in

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_follows_a_call_from_the_pop_to_the_end_of_wrap_up(
    stack: Stack, browser: Browser, alice: Any, carla: Customer, hotline: Channel
) -> None:
    give_phone(carla)
    Disposition.objects.create(code="refund", label="Refund promised")
    desk = browser.new_context().new_page()
    log_in(desk, stack.base_url, "alice")

    assert send_live(stack.base_url, hotline, cti_body("ringing", "f-1", caller="0612345678", agent="alice")).is_success
    pop = desk.get_by_role("dialog", name="Incoming call: Carla")
    pop.get_by_role("link", name="Open the call").click()
    timeline = desk.get_by_role("log", name="Timeline")
    expect(timeline).to_contain_text("Inbound call · Ringing")

    assert send_live(stack.base_url, hotline, cti_body("answered", "f-1", agent="alice")).is_success
    expect(timeline).to_contain_text("Inbound call · On call")
    expect(pop).to_contain_text("On call")
    assert send_live(stack.base_url, hotline, cti_body("hangup", "f-1")).is_success

    wrap_up = timeline.get_by_role("form", name="Wrap-up")
    wrap_up.get_by_label("Disposition").select_option(label="Refund promised")
    wrap_up.get_by_label("Call notes").fill("Refund of the last invoice")
    wrap_up.get_by_role("button", name="End wrap-up").click()

    expect(wrap_up).to_have_count(0)
    expect(timeline).to_contain_text("Refund promised")
    expect(timeline).to_contain_text("Refund of the last invoice")
    call = Call.objects.get(call_id="f-1")
    assert call.state == Call.State.ENDED
    assert Conversation.objects.get(calls=call).status == Conversation.Status.RESOLVED
