"""An SLA escalation shows live in real browsers: the "Escalated" badge appears for the supervisor and the agent."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from interactions.models import Channel, Conversation
from routing import sla
from routing.models import Queue
from tests.factories import widget_message
from tests.stack import ROOT, Stack
from tests.test_widget_browser import log_in

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(ROOT) / "test-artifacts"


def test_it_shows_the_escalated_badge_live_to_the_supervisor_and_the_agent(
    stack: Stack, browser: Browser, alice: Any, sophie: Any, support_queue: Queue, chat_channel: Channel
) -> None:
    Queue.objects.filter(pk=support_queue.pk).update(sla_first_response_minutes=5)
    case = widget_message(chat_channel, text="Ma facture est fausse").conversation
    case = Conversation.objects.get(pk=case.pk)
    assert case.assignee_id == alice.pk and case.first_response_due_at is not None

    agent = browser.new_context().new_page()
    log_in(agent, stack.base_url, "alice")
    expect(agent.get_by_role("status").filter(has_text="Live")).to_be_visible()
    supervisor = browser.new_context().new_page()
    log_in(supervisor, stack.base_url, "sophie")
    supervisor.goto(f"{stack.base_url}/desk/supervisor/")
    expect(supervisor.get_by_role("status").filter(has_text="Live")).to_be_visible()

    mine = agent.get_by_role("list", name="Mine")
    link = mine.get_by_role("link", name=re.compile(str(case.customer)))
    expect(link).to_be_visible()
    expect(link).not_to_contain_text("Escalated")
    open_cases = supervisor.get_by_role("table", name="Open conversations")
    row = open_cases.get_by_role("row").filter(has=supervisor.get_by_role("link", name=str(case.customer)))
    expect(row).to_be_visible()
    expect(row.get_by_text("Escalated")).to_have_count(0)

    # The first-response target passes: the sweep (as beat or the embedded scheduler runs it) escalates the case.
    result = sla.sweep_sla(now=timezone.now() + timedelta(minutes=6))
    assert result.escalated == [case.pk]

    expect(row.get_by_text("Escalated", exact=True)).to_be_visible()
    expect(link).to_contain_text("Escalated")
    expect(mine.get_by_role("link", name=re.compile("Escalated"))).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    agent.screenshot(path=str(ARTIFACTS / "escalation-desk.png"))
    supervisor.screenshot(path=str(ARTIFACTS / "escalation-supervisor.png"))

    # A reload keeps it: both pages render the badge from the case itself.
    agent.reload()
    expect(agent.get_by_role("list", name="Mine").get_by_role("link", name=re.compile("Escalated"))).to_have_count(1)
    supervisor.reload()
    expect(row.get_by_text("Escalated", exact=True)).to_be_visible()
