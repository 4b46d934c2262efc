"""The wallboard in Chromium: an answer and an abandon change the service level tile live, and a French supervisor
keeps French labels after a push (the push carries numbers only)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from playwright.sync_api import Browser, Page, expect

from interactions.models import Channel
from reporting import transitions
from reporting.models import QueueReportingSettings
from routing.models import AgentProfile, Queue
from tests.conftest import PASSWORD
from tests.stack import Stack

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


LOGIN_WORDS = {
    "en-GB": ("Username", "Password", "Log in", "Live"),
    "fr-FR": ("Identifiant", "Mot de passe", "Se connecter", "En direct"),
}


def open_wallboard(browser: Browser, stack: Stack, *, locale: str) -> Page:
    username, password, log_in, live = LOGIN_WORDS[locale]
    page = browser.new_context(locale=locale).new_page()
    page.goto(f"{stack.base_url}/accounts/login/?next=/desk/wallboard/")
    page.get_by_label(username).fill("sophie")
    page.get_by_label(password).fill(PASSWORD)
    page.get_by_role("button", name=log_in).click()
    expect(page.get_by_role("status").filter(has_text=live)).to_be_visible()
    return page


def test_it_updates_the_service_level_tile_live_and_keeps_each_supervisors_language(
    stack: Stack, browser: Browser, sophie: Any, alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    QueueReportingSettings.objects.create(queue=support_queue, service_level_seconds=20, service_level_goal=0.8)
    english = open_wallboard(browser, stack, locale="en-GB")
    french = open_wallboard(browser, stack, locale="fr-FR")
    tile = english.get_by_role("article", name="Support")
    service_level = tile.get_by_role("definition").nth(0)
    expect(service_level).to_have_text("–")
    expect(english.get_by_role("button", name="Full screen")).to_be_visible()

    answered = arrive(chat_channel)  # alice is available: answered at once, within the 20 s target
    assert answered.assignee_id == alice.pk
    expect(service_level).to_have_text("100 %")

    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    waiting = arrive(chat_channel)
    with transaction.atomic():
        transitions.conversation_abandoned(conversation=waiting, wait_seconds=45)
    expect(service_level).to_have_text("50 %")
    expect(tile.get_by_role("alert")).to_contain_text("Service level under target")

    french_tile = french.get_by_role("article", name="Support")
    expect(french_tile.get_by_role("definition").nth(0)).to_have_text("50 %")
    expect(french_tile.get_by_text("En attente", exact=True)).to_be_visible()
    expect(french_tile.get_by_text("Attente la plus longue", exact=True)).to_be_visible()
    french.screenshot(path="test-artifacts/wallboard-fr.png", full_page=True)
