"""The staffing page: Erlang C agents per interval, inputs prefilled from the queue's history and settings, each
editable (volume per interval, AHT, service level target and threshold, maximum occupancy). Values by hand."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from reporting import staffing
from reporting.events import record
from reporting.models import EventKind, QueueReportingSettings
from routing.models import Queue

PARIS = ZoneInfo("Europe/Paris")
DAY = "2026-12-08"  # a Tuesday


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(support_queue: Queue) -> None:
    """Two past Tuesdays at 10:00 Paris: 50 contacts each in the quarter hour, handled in 180 s on average."""
    QueueReportingSettings.objects.create(queue=support_queue, service_level_seconds=20, service_level_goal=0.8)
    for weeks in (1, 2):
        at = datetime(2026, 12, 8, 10, tzinfo=PARIS) - timedelta(weeks=weeks)
        for _ in range(50):
            record(kind=EventKind.OFFERED_TO_QUEUE, at=at, queue_id=support_queue.pk)
            record(kind=EventKind.RESOLVED, at=at, queue_id=support_queue.pk, handle_seconds=180)


def cells(page: str, interval: str) -> list[str]:
    row = re.search(rf'<th scope="row">{interval}</th>(.*?)</tr>', page, re.S)
    assert row, page
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_it_prefills_the_inputs_from_the_queues_history_and_settings(
    history: None, sophie: Any, support_queue: Queue
) -> None:
    page = logged_in(sophie).get(f"/desk/reports/staffing/?queue={support_queue.pk}&date={DAY}").content.decode()
    assert 'name="aht" value="180.0"' in page
    assert 'name="threshold" value="20"' in page and 'name="goal" value="80.0"' in page
    assert 'name="max_occupancy" value="85"' in page
    assert 'name="v-10:00" value="25"' in page  # (50 + 50) ÷ 4 weeks
    # A = 25 ÷ 900 × 180 = 5 erlangs: N = 8 reaches 80 % in 20 s (0.880); occupancy 5 ÷ 8 = 62.5 % < 85 %.
    _, traffic, needed, sl, _, occupancy, _ = cells(page, "10:00")
    assert (traffic, needed, sl, occupancy) == ("5.00", "8", "88 %", "62 %")
    assert 'id="staffing-chart"' in page and "staffing-chart-data" in page


def test_it_recalculates_from_the_supervisors_inputs(history: None, sophie: Any, support_queue: Queue) -> None:
    query = (
        f"queue={support_queue.pk}&date={DAY}&shown={support_queue.pk}:{DAY}"
        "&aht=180&threshold=20&goal=80&max_occupancy=60&v-10:00=50"
    )
    page = logged_in(sophie).get(f"/desk/reports/staffing/?{query}").content.decode()
    # 50 contacts: A = 10. Erlang C gives 14 agents for 80 % in 20 s (SL 0.888, occupancy 0.714), but occupancy is
    # capped at 60 %: ⌈10 ÷ 0.6⌉ = 17 agents, occupancy 10 ÷ 17 = 58.8 %.
    _, traffic, needed, _, _, occupancy, _ = cells(page, "10:00")
    assert (traffic, needed, occupancy) == ("10.00", "17", "59 %")
    assert 'name="v-10:00" value="50"' in page


def test_it_staffs_for_the_goal_when_the_occupancy_cap_does_not_bind() -> None:
    (row,) = staffing.plan(volumes={"10:00": 50}, aht=180, target_seconds=20, goal=0.8, max_occupancy=0.85)
    assert row["agents_needed"] == 14 and row["service_level"] == pytest.approx(0.888, abs=1e-3)
    assert row["occupancy"] == pytest.approx(0.714, abs=1e-3)


def test_it_starts_again_from_history_when_the_queue_changes(
    history: None, sophie: Any, support_queue: Queue, billing_queue: Queue
) -> None:
    query = f"queue={billing_queue.pk}&date={DAY}&shown={support_queue.pk}:{DAY}&aht=999&threshold=20&goal=80"
    page = logged_in(sophie).get(f"/desk/reports/staffing/?{query}&max_occupancy=85").content.decode()
    assert 'name="aht" value="300.0"' in page  # Billing's default handle time: it has no history
    assert "No contacts on this weekday in the last four weeks." in page


def test_it_refuses_staffing_to_agents_and_links_it_for_supervisors(alice: Any, sophie: Any) -> None:
    assert logged_in(alice).get("/desk/reports/staffing/").status_code == 403
    assert 'href="/desk/reports/staffing/"' in logged_in(sophie).get("/desk/reports/").content.decode()
    assert 'href="/desk/reports/staffing/"' not in logged_in(alice).get("/desk/reports/").content.decode()
