"""`make run` without DATABASE_URL/REDIS_URL: SQLite, the in-memory layer and in-process tasks, on the same code."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import open_widget, send_widget_message
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    """The ASGI server alone on a fresh SQLite file, migrated and seeded like `make run` does it."""
    sqlite = Path(tmp_path_factory.mktemp("embedded")) / "desk.sqlite3"
    server = Stack(database_url="", redis_url="", extra_env={"SQLITE_PATH": str(sqlite)})
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
        yield server, match.group(1)
    finally:
        server.stop()


async def test_it_processes_a_chat_message_in_process(embedded: tuple[Stack, str]) -> None:
    server, channel_key = embedded
    widget, welcome = await open_widget(server.ws_url, channel_key=channel_key, origin=server.base_url)
    assert welcome["type"] == "welcome"
    sent = [await send_widget_message(widget, f"Bonjour {n}") for n in range(3)]
    echoed: list[str] = []
    while len(echoed) < len(sent):
        frame = await widget.receive_until("message.created", timeout=15)
        echoed.append(frame["data"]["message"]["uuid"])
    await widget.close()
    assert sorted(echoed) == sorted(sent)


async def test_it_rate_limits_a_flood_without_redis_and_keeps_what_it_accepted(embedded: tuple[Stack, str]) -> None:
    """The embedded default has no Redis: the visitor's budget lives in the server process, with the same answers."""
    server, channel_key = embedded
    widget, _welcome = await open_widget(server.ws_url, channel_key=channel_key, origin=server.base_url)
    sent = [await send_widget_message(widget, f"Inondation {n}") for n in range(16)]
    answers: dict[str, dict[str, Any]] = {}
    echoed: set[str] = set()
    while len(answers) < len(sent) or echoed != {k for k, f in answers.items() if f["type"] == "message.accepted"}:
        frame = await widget.receive(timeout=15)
        if frame["type"] in ("message.accepted", "error"):
            answers[frame["uuid"]] = frame
        elif frame["type"] == "message.created":
            echoed.add(frame["data"]["message"]["uuid"])
    refused = [frame for frame in answers.values() if frame["type"] == "error"]
    # Everything accepted came back processed (exactly the accepted ones); the rest was refused with a wait.
    assert 10 <= len(echoed) < 16 and all(f["code"] == "rate_limited" and f["retry_after"] > 0 for f in refused)
    assert len(echoed) + len(refused) == len(sent)
    await widget.close()
