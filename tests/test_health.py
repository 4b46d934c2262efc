"""GET /healthz reports every component of the spine: the details to the monitoring token, only the overall status to
anyone else."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from tests.stack import Stack, free_port, wait_until

# `db` first: the session's stack reads the test database's name from the settings, set once the database is ready.
pytestmark = [pytest.mark.stack, pytest.mark.usefixtures("db")]
TOKEN = "monitoring-token-for-the-health-tests"
MONITORED = {"OMNIDESK_HEALTH_TOKEN": TOKEN}


def get_health(base_url: str, *, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{base_url}/healthz", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture
def lone_server(stack: Stack) -> Iterator[Stack]:
    """A second server on its own Redis database, where no worker listens."""
    redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + "/15"
    lone = Stack(database_url=stack.database_url, redis_url=redis_url, extra_env=MONITORED)
    lone.start_server()
    yield lone
    lone.stop()


@pytest.fixture
def monitored_server(stack: Stack) -> Iterator[Stack]:
    """A server of the session's stack (same database, same Redis, so its worker answers) that knows the token."""
    server = Stack(database_url=stack.database_url, redis_url=stack.redis_url, extra_env=MONITORED)
    server.start_server()
    wait_until(server.healthy, timeout=30, message="the monitored server to answer")
    yield server
    server.stop()


def test_it_tells_anonymous_callers_only_that_all_is_well(stack: Stack) -> None:
    status, report = get_health(stack.base_url, token="")
    assert (status, report) == (200, {"status": "ok"})


def test_it_reports_healthy_when_every_component_answers(monitored_server: Stack) -> None:
    status, report = get_health(monitored_server.base_url)
    assert status == 200
    assert report["status"] == "ok"
    assert set(report["checks"]) == {"database", "channel_layer", "broker", "worker"}
    assert report["checks"]["database"]["vendor"] == "postgresql"
    assert report["checks"]["channel_layer"]["backend"] == "PipelinedPubSubChannelLayer"
    assert report["checks"]["worker"]["workers"]


def test_it_reports_503_when_no_worker_answers(lone_server: Stack) -> None:
    wait_until(lambda: _answers(lone_server), timeout=30, message="the lone server to listen")
    status, report = get_health(lone_server.base_url)
    assert status == 503
    assert report["status"] == "degraded"
    assert get_health(lone_server.base_url, token="")[1] == {"status": "degraded"}
    assert report["checks"]["worker"]["ok"] is False
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["broker"]["ok"] is True


def test_it_reports_503_when_redis_is_unreachable(stack: Stack) -> None:
    broken = Stack(database_url=stack.database_url, redis_url=f"redis://127.0.0.1:{free_port()}/0", extra_env=MONITORED)
    broken.start_server()
    try:
        wait_until(lambda: _answers(broken), timeout=30, message="the server to listen")
        status, report = get_health(broken.base_url)
    finally:
        broken.stop()
    assert status == 503
    assert report["checks"]["channel_layer"]["ok"] is False
    assert report["checks"]["broker"]["ok"] is False
    assert "Error" in report["checks"]["broker"]["error"]


def _answers(server: Stack) -> bool:
    try:
        get_health(server.base_url)
    except OSError:
        return False
    return True
