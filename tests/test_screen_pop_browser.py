"""The screen pop in a real browser: a CTI `ringing` posted to the live server pops alice's desk with the caller."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from customers.models import Customer
from interactions.models import Channel
from tests.phone_factories import CARLA_PHONE, cti_body, give_phone, send_live
from tests.stack import Stack
from tests.test_widget_browser import log_in
from tests.ui_support import VIEWPORT, box, screenshot

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_pops_the_callers_360_view_on_the_agents_desk_and_closes_it_when_another_answers(
    stack: Stack, browser: Browser, alice: Any, bruno: Any, carla: Customer, hotline: Channel
) -> None:
    give_phone(carla)
    desk = browser.new_context(viewport=VIEWPORT).new_page()
    log_in(desk, stack.base_url, "alice")

    ringing = cti_body("ringing", "b-1", caller="06 12 34 56 78", intent="Billing")
    assert send_live(stack.base_url, hotline, ringing).status_code == 202

    pop = desk.get_by_role("dialog", name=re.compile("Incoming call"))
    expect(pop).to_be_visible()
    expect(pop.get_by_role("heading", name="Incoming call: Carla")).to_be_visible()
    expect(pop).to_contain_text(CARLA_PHONE)
    expect(pop).to_contain_text("Intent: Billing")
    expect(pop.get_by_role("link", name="Open the call")).to_be_visible()
    # The pop floats above the desk without covering the lists.
    assert box(pop)["x"] > box(desk.get_by_role("navigation", name="Conversations"))["width"]
    screenshot(desk, "screen-pop")

    assert send_live(stack.base_url, hotline, cti_body("answered", "b-1", agent="bruno")).status_code == 202
    expect(pop).to_have_count(0)


def test_it_offers_a_prefilled_new_customer_form_for_an_unknown_caller(
    stack: Stack, browser: Browser, alice: Any, hotline: Channel
) -> None:
    desk = browser.new_context().new_page()
    log_in(desk, stack.base_url, "alice")
    assert send_live(stack.base_url, hotline, cti_body("ringing", "b-2", caller="0698765432")).status_code == 202

    pop = desk.get_by_role("dialog", name="Incoming call: Unknown caller")
    expect(pop).to_be_visible()
    form = pop.get_by_role("form", name="New customer")
    expect(form.get_by_label("Phone")).to_have_value("+33698765432")
    form.get_by_label("Name").fill("Jeanne Martin")
    form.get_by_role("button", name="Save").click()
    # Saved, the pop is named after the caller.
    named = desk.get_by_role("dialog", name="Incoming call: Jeanne Martin")
    expect(named.get_by_role("form", name="New customer").get_by_role("status")).to_contain_text("Saved: Jeanne Martin")
    assert Customer.objects.filter(display_name="Jeanne Martin", identities__address="+33698765432").exists()
