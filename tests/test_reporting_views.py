"""Reports: visibility (agents their own figures, supervisors all), drill-down through access, injection-safe CSV and
XLSX, the REST API in the OpenAPI schema, staffing, and the wallboard's figures."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from interactions.models import Channel
from reporting import wallboard
from reporting.events import record
from reporting.models import EventKind, QueueReportingSettings
from routing.models import Queue

PARIS = ZoneInfo("Europe/Paris")
DAY = "from=2026-12-01&to=2026-12-01&tz=Europe/Paris"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def figures(alice: Any, oscar: Any, support_queue: Queue, billing_queue: Queue) -> None:
    at = datetime(2026, 12, 1, 10, tzinfo=PARIS)
    for agent, queue, wait in ((alice, support_queue, 10), (alice, support_queue, 30), (oscar, billing_queue, 5)):
        record(kind=EventKind.OFFERED_TO_QUEUE, at=at, queue_id=queue.pk, channel_kind="chat")
        record(
            kind=EventKind.ANSWERED,
            at=at,
            queue_id=queue.pk,
            channel_kind="chat",
            agent_id=agent.pk,
            duration_seconds=wait,
        )


def test_it_shows_an_agent_only_their_own_figures_and_a_supervisor_everyones(
    figures: None, alice: Any, sophie: Any
) -> None:
    mine = logged_in(alice).get(f"/api/reports/?{DAY}&group=agent").json()
    assert [row["key"] for row in mine["rows"]] == [str(alice.pk)]
    assert mine["total"]["answered"] == 2
    everyone = logged_in(sophie).get(f"/api/reports/?{DAY}&group=agent").json()
    assert everyone["total"]["answered"] == 3 and len(everyone["rows"]) == 3  # alice, oscar, and the offers (no agent)
    cheat = logged_in(alice).get(f"/api/reports/?{DAY}&group=agent&agent=999").json()
    assert cheat["total"]["answered"] == 2  # the agent filter is forced to her own id


def test_it_compares_with_the_previous_period(figures: None, sophie: Any, support_queue: Queue) -> None:
    before = datetime(2026, 11, 30, 10, tzinfo=PARIS)
    record(kind=EventKind.OFFERED_TO_QUEUE, at=before, queue_id=support_queue.pk, channel_kind="chat")
    data = logged_in(sophie).get(f"/api/reports/?{DAY}").json()
    assert data["total"]["offered"] == 3 and data["previous"]["offered"] == 1


def test_it_renders_the_report_page_with_drill_down_links(figures: None, sophie: Any, support_queue: Queue) -> None:
    page = logged_in(sophie).get(f"/desk/reports/?{DAY}&group=queue").content.decode()
    assert "Support" in page and "Billing" in page
    assert f"queue={support_queue.pk}" in page and "kind=answered" in page
    assert "vendor/chartjs/chart.umd.min.js" in page


def test_it_drills_down_only_to_conversations_the_user_may_open(
    alice: Any, sophie: Any, fiona: Any, fraud_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    visible = arrive(chat_channel)  # routed to alice: offered + answered events, today
    secret_channel = Channel.objects.create(kind=Channel.Kind.CHAT, name="Fraud chat", queue=fraud_queue)
    secret = arrive(secret_channel)
    today = timezone.localtime(timezone.now(), PARIS).date().isoformat()
    query = f"from={today}&to={today}&tz=Europe/Paris&kind=offered_to_queue"
    as_supervisor = logged_in(sophie).get(f"/desk/reports/conversations/?{query}").content.decode()
    assert f"#{visible.pk}<" in as_supervisor and f"#{secret.pk}<" in as_supervisor
    as_alice = logged_in(alice).get(f"/desk/reports/conversations/?{query}").content.decode()
    assert f"#{visible.pk}<" not in as_alice  # alice's own figures hold answers, not queue offers
    answered = logged_in(alice).get(f"/desk/reports/conversations/?{query.replace('offered_to_queue', 'answered')}")
    assert f"#{visible.pk}<" in answered.content.decode() and f"#{secret.pk}<" not in answered.content.decode()


@pytest.fixture
def hostile_queue(sophie: Any) -> Queue:
    queue = Queue.objects.create(name='=HYPERLINK("http://evil.example","click")')
    for name, prefix in (("plus", "+"), ("minus", "-"), ("at", "@"), ("tab", "\t"), ("cr", "\r")):
        other = Queue.objects.create(name=f"{prefix}cmd|' /C calc'!A0 {name}")
        record(kind=EventKind.OFFERED_TO_QUEUE, at=datetime(2026, 12, 1, 9, tzinfo=PARIS), queue_id=other.pk)
    record(kind=EventKind.OFFERED_TO_QUEUE, at=datetime(2026, 12, 1, 9, tzinfo=PARIS), queue_id=queue.pk)
    return queue


def test_it_neutralizes_formula_cells_in_the_csv_export(hostile_queue: Queue, sophie: Any) -> None:
    response = logged_in(sophie).get(f"/desk/reports/export.csv?{DAY}&group=queue")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    labels = [row[0] for row in rows[1:]]
    assert len(labels) == 6
    assert all(label.startswith("'") for label in labels), labels
    assert '\'=HYPERLINK("http://evil.example","click")' in labels


def test_it_neutralizes_formula_cells_in_the_xlsx_export(hostile_queue: Queue, sophie: Any) -> None:
    response = logged_in(sophie).get(f"/desk/reports/export.xlsx?{DAY}&group=queue")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert len(cells) == 6
    for cell in cells:
        assert cell.data_type == "s" and str(cell.value).startswith("'"), cell.value
    assert sheet.cell(row=2, column=2).data_type == "n"  # figures stay numbers


def test_it_puts_the_reports_api_in_the_openapi_schema(sophie: Any) -> None:
    schema = logged_in(sophie).get("/api/schema/").content.decode()
    assert "/api/reports/" in schema and "/api/reports/staffing/" in schema


def test_it_forecasts_staffing_with_erlang_c_from_past_weeks(sophie: Any, support_queue: Queue) -> None:
    QueueReportingSettings.objects.create(queue=support_queue, service_level_seconds=20, service_level_goal=0.8)
    for weeks in (1, 2):
        at = datetime(2026, 12, 8, 10, tzinfo=PARIS) - timedelta(weeks=weeks)
        for _ in range(50):  # 50 contacts in 15 minutes, AHT 180 s → A = 10 erlangs
            record(kind=EventKind.OFFERED_TO_QUEUE, at=at, queue_id=support_queue.pk)
            record(kind=EventKind.RESOLVED, at=at, queue_id=support_queue.pk, handle_seconds=180)
    data = logged_in(sophie).get(f"/api/reports/staffing/?queue={support_queue.pk}&date=2026-12-08").json()
    ten = next(i for i in data["intervals"] if i["interval"] == "10:00")
    assert ten["contacts"] == 25 and ten["traffic_erlangs"] == pytest.approx(5.0)
    # A = 5, AHT 180 s, 20 s: N = 7 gives P(wait) 0.324, SL 1 − 0.324·e^(−2·20/180) = 0.740 < 0.8; N = 8 gives 0.880.
    assert ten["agents_needed"] == 8 and ten["service_level"] == pytest.approx(0.880, abs=1e-3)
    assert ten["occupancy"] == pytest.approx(5 / 8, abs=1e-3) and ten["aht_seconds"] == 180


def test_it_refuses_the_wallboard_and_staffing_to_agents(alice: Any) -> None:
    assert logged_in(alice).get("/desk/wallboard/").status_code == 403
    assert logged_in(alice).get("/api/reports/staffing/?queue=1").status_code == 403


def test_it_computes_todays_wallboard_with_alerts(
    sophie: Any, alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    QueueReportingSettings.objects.create(queue=support_queue, service_level_goal=0.8, service_level_seconds=20)
    arrive(chat_channel)  # both answered at once by alice
    conversation = arrive(chat_channel)
    record(kind=EventKind.ABANDONED, conversation=conversation, agent_id=0, duration_seconds=60)
    tile = next(q for q in wallboard.figures()["queues"] if q["id"] == support_queue.pk)
    assert tile["service_level"] == pytest.approx(round(2 / 3, 3)) and tile["alerts"] == ["service_level"]
    page = logged_in(sophie).get("/desk/wallboard/").content.decode()
    assert 'id="wallboard-fullscreen"' in page and "Service level under target" in page
    assert 'href="/desk/wallboard/"' in logged_in(sophie).get("/desk/supervisor/").content.decode()
