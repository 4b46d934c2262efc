"""The staffing page in Chromium: a supervisor finds the staffing table and its inputs by role and label, changes an
interval's volume and the occupancy cap, and reads the new number of agents; the chart is drawn by Chart.js."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from reporting.events import record
from reporting.models import EventKind, QueueReportingSettings
from routing.models import Queue
from tests.conftest import PASSWORD
from tests.stack import Stack

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PARIS = ZoneInfo("Europe/Paris")


def test_it_recalculates_the_agents_needed_from_the_supervisors_inputs(
    stack: Stack, browser: Browser, sophie: Any, support_queue: Queue
) -> None:
    QueueReportingSettings.objects.create(queue=support_queue, service_level_seconds=20, service_level_goal=0.8)
    for weeks in (1, 2, 3, 4):  # 25 contacts every past Tuesday at 10:00, 180 s each: A = 5 erlangs
        at = datetime(2026, 12, 8, 10, tzinfo=PARIS) - timedelta(weeks=weeks)
        for _ in range(25):
            record(kind=EventKind.OFFERED_TO_QUEUE, at=at, queue_id=support_queue.pk)
            record(kind=EventKind.RESOLVED, at=at, queue_id=support_queue.pk, handle_seconds=180)
    page = browser.new_context(locale="en-GB").new_page()
    page.goto(f"{stack.base_url}/accounts/login/?next=/desk/reports/")
    page.get_by_label("Username").fill("sophie")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Staffing").click()
    page.get_by_label("Day").fill("2026-12-08")
    page.get_by_role("button", name="Calculate").click()

    table = page.get_by_role("table", name="Staffing per interval")
    ten = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="10:00"))
    expect(ten.get_by_role("cell").nth(2)).to_have_text(
        "8"
    )  # contacts, erlangs, agents: A = 5, 80 % in 20 s → 8 agents
    expect(page.get_by_label("Average handle time (s)")).to_have_value("180.0")

    ten.get_by_label("Contacts at 10:00").fill("50")  # A = 10 → 14 for the service level…
    page.get_by_label("Maximum occupancy (%)").fill("60")  # …but 60 % occupancy needs ⌈10 ÷ 0.6⌉ = 17
    page.get_by_role("button", name="Calculate").click()
    ten = (
        page.get_by_role("table", name="Staffing per interval")
        .get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name="10:00"))
    )
    expect(ten.get_by_role("cell").nth(2)).to_have_text("17")
    expect(ten.get_by_label("Contacts at 10:00")).to_have_value("50")

    chart = page.get_by_role("img", name="Agents needed per 15-minute interval", exact=False)
    expect(chart).to_be_visible()
    page.wait_for_function("() => window.Chart && window.Chart.getChart(document.getElementById('staffing-chart'))")
    page.screenshot(path="test-artifacts/staffing.png", full_page=True)
