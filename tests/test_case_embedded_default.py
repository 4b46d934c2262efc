"""`make run`'s embedded default does the periodic work in-process, and routes only to people who are there.

The server runs like `make run` runs it without DATABASE_URL/REDIS_URL: uvicorn alone on a fresh SQLite file, migrated
and seeded by the same commands, no Celery worker and no beat. The test reads the SQLite file to check the outcome.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from tests.clients import Socket, open_widget, send_widget_message
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.stack

DEMO_PASSWORD = "demo-password"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str, Path]]:
    sqlite = Path(tmp_path_factory.mktemp("embedded_default")) / "desk.sqlite3"
    # One-second sweeps so the test waits seconds, not the production half-minute, for the in-process beat.
    server = Stack(
        database_url="",
        redis_url="",
        extra_env={"SQLITE_PATH": str(sqlite), "OMNIDESK_SLA_SWEEP_INTERVAL": "1", "OMNIDESK_SWEEP_INTERVAL": "1"},
    )
    env = server.env()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--base-url", server.base_url],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r'data-channel="([^"]+)"', seeded.stdout)
    assert match, seeded.stdout
    server.start_server()
    try:
        server.wait_healthy(timeout=60)
        yield server, match.group(1), sqlite
    finally:
        server.stop()


def query(sqlite: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(sqlite, timeout=20) as db:
        return db.execute(sql, params).fetchall()


def execute(sqlite: Path, sql: str, *params: Any) -> None:
    with sqlite3.connect(sqlite, timeout=20) as db:
        db.execute(sql, params)


def user_id(sqlite: Path, username: str) -> int:
    return int(query(sqlite, "SELECT id FROM auth_user WHERE username = ?", username)[0][0])


def presence(sqlite: Path, username: str) -> str:
    rows = query(
        sqlite,
        "SELECT p.presence FROM routing_agentprofile p JOIN auth_user u ON u.id = p.user_id WHERE u.username = ?",
        username,
    )
    return str(rows[0][0])


async def log_in(base_url: str, username: str) -> str:
    """Log in through the real login form, as a browser does; the session cookie for the desk socket."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        page = await client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        answer = await client.post(
            "/accounts/login/",
            data={"username": username, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{base_url}/accounts/login/"},
        )
        assert answer.status_code == 302, answer.text[:500]
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def wait_for(predicate: Any, *, timeout: float, message: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(predicate):
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.1)


async def test_it_routes_a_visitor_to_the_agent_whose_desk_is_open_and_warns_without_beat(
    embedded: tuple[Stack, str, Path],
) -> None:
    server, channel_key, sqlite = embedded
    # Seeded people start offline: nobody has opened a desk yet, and the supervisor does not take routed work.
    assert {presence(sqlite, name) for name in ("alice", "bruno", "sophie")} == {"offline"}
    assert query(sqlite, "SELECT takes_work FROM routing_agentprofile WHERE user_id = ?", user_id(sqlite, "sophie"))[
        0
    ] == (0,)

    cookie = await log_in(server.base_url, "alice")
    connection = await connect(
        f"{server.ws_url}/ws/desk/", origin=Origin(server.base_url), additional_headers={"Cookie": cookie}
    )
    desk = Socket(connection)
    await desk.send({"type": "hello", "last_event_id": 0})
    await desk.receive_until("welcome")
    await wait_for(lambda: presence(sqlite, "alice") == "available", timeout=15, message="alice available")

    widget, welcome = await open_widget(server.ws_url, channel_key=channel_key, origin=server.base_url)
    assert welcome["type"] == "welcome"
    await send_widget_message(widget, "Bonjour, j'ai une question")

    def assigned() -> bool:
        return bool(query(sqlite, "SELECT 1 FROM interactions_conversation WHERE assignee_id IS NOT NULL"))

    await wait_for(assigned, timeout=20, message="the chat to be assigned")
    [(assignee, conversation_id)] = query(sqlite, "SELECT assignee_id, id FROM interactions_conversation")
    assert assignee == user_id(sqlite, "alice")

    # Bring the first-response deadline 30 s near (inside the 80 % warning window of the 5-minute target): only the
    # server's own periodic work can notice and mark the warning, since no beat process runs.
    due = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S.%f")
    execute(
        sqlite,
        "UPDATE interactions_conversation SET first_response_due_at = ?, first_response_at = NULL WHERE id = ?",
        due,
        conversation_id,
    )

    def warned() -> bool:
        rows = query(sqlite, "SELECT sla_warned_at FROM interactions_conversation WHERE id = ?", conversation_id)
        return rows[0][0] is not None

    await wait_for(warned, timeout=20, message="the SLA warning")
    await widget.close()
    await desk.close()
