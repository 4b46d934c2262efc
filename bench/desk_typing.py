"""desk_typing: 200 agents and 200 visitors typing at once, and what it costs the chat pipeline (issue 15).

What is measured
    P pairs (default 200): agent j keeps a `/ws/desk/` socket, visitor j a `/ws/widget/` socket with an open chat
    conversation, which agent j has open on the desk (a "viewing" heartbeat every 10 s, as static/desk/desk.js
    does). Agents are in teams of T (default 10) sharing a queue and a chat channel, so all T may act on each of the
    team's conversations; typing reaches those who view the conversation and may act on it, and the visitor.
    Two typing patterns (--desk-typing-pattern):
    - bursts (default), what people and our clients do: everyone types in bursts of 1–8 s separated by pauses of
      0.5–8 s, through the clients' throttle (desk.js and the widget send "typing: true" at most every 2 s while keys
      are pressed, "false" after 3 s without one): about 0.4 frames/s per person;
    - toggle, a stress test: everyone flips their typing state every I seconds (default 1.0, random phase), each
      frame a change that the server forwards, 2 × P / I frames/s in.
    Latency of a typing frame = arrival on the partner's socket (visitor j for agent j's frames, `agent.typing`; agent
    j for visitor j's, `presence.typing` with who=visitor and visitor j's conversation) - the moment just before the
    sender wrote it. Only frames sent while recording count, each direction from its first frame sent with nothing
    of its own pending (`Pair`: a frame dropped before recording would otherwise have every later one of its state
    charged to it). A frame that never arrives counts as lost (typing frames are ephemeral, best effort). Typing
    starts once every desk has been told it views its conversation; the heartbeats then run on their own phases.
    In the same run, on the same stack, chat_e2e's measurement (a separate agent, queue and channel; M messages at R
    msg/s from V visitors, see bench/chat_e2e.py) runs twice: without typing load, then with the typing load running
    for its whole duration. The typing latencies are those of that second phase.

Reading the line
    {"bench": "desk_typing", "agents": P, "visitors": P, "team_size": T, "pattern", "interval_s": I (toggle only),
     "typing_frames_per_s": frames sent per second while recording, "typing_frames_sent": S (counted),
     "typing_frames_not_counted": sent while recording before their direction counted,
     "typing_frames_delivered": D, "typing_lost": L, "typing_p50_ms", "typing_p99_ms", "typing_max_ms",
     "agent_to_visitor_p99_ms", "visitor_to_agent_p99_ms", "chat_rate_per_s": R, "chat_msg_per_s_without",
     "chat_msg_per_s_with", "chat_slowdown_pct", "chat_p99_ms_without", "chat_p99_ms_with", "chat_missing_with",
     "typing_p99_ok", "chat_slowdown_ok"}
    chat_slowdown_pct = (without - with) / without × 100 of the delivered chat throughput (negative: faster). The
    targets: typing p99 < 100 ms and slowdown ≤ 10 %. With an open-loop chat load below saturation both throughputs
    sit near R; the chat p99 pair shows the latency cost.
    client_loop_lag_*: how late the benchmark's own event loop ran (a 10 ms sleep probed while recording). All 400
    sockets live in this one process: a typing p99 near this lag would be the client's, not the server's.

`--smoke` (bench/__main__.py) runs it at a tiny size (4 pairs, 20 chat messages), under a minute.
Uses its own database (omnidesk_bench_typing, dropped and re-created) and flushes the Redis db of REDIS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bench import chat_e2e
from bench.desk_typing_frames import ClientThrottle, Pair, Stats, probe_loop_lag
from bench.environment import (
    WIDGET_ORIGIN,
    configure_logging,
    create_fixture,
    flush_redis,
    fresh_database,
    migrate,
    setup_django,
)
from bench.measures import percentile, rounded
from tests.stack import Stack

logger = logging.getLogger("bench.desk_typing")
DATABASE = "omnidesk_bench_typing"
TYPING_P99_TARGET_MS = 100.0
SLOWDOWN_TARGET_PCT = 10.0
# --smoke: a tiny size, so that CI notices when the benchmark stops running (the figures mean nothing then).
SMOKE_SIZES = {"pairs": 4, "team_size": 2, "chat_messages": 20, "chat_rate": 20.0, "chat_visitors": 4}

Emit = Callable[[dict[str, Any]], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("desk_typing")
    group.add_argument("--desk-typing-pairs", type=int, default=200, help="agents, and as many visitors (200)")
    group.add_argument("--desk-typing-team-size", type=int, default=10, help="agents per queue/channel (10)")
    group.add_argument(
        "--desk-typing-pattern", choices=("bursts", "toggle"), default="bursts", help="how people type (bursts)"
    )
    group.add_argument(
        "--desk-typing-interval", type=float, default=1.0, help="toggle: seconds between typing changes (1.0)"
    )
    group.add_argument("--desk-typing-chat-messages", type=int, default=1000, help="chat messages per phase (1000)")
    group.add_argument("--desk-typing-chat-rate", type=float, default=50.0, help="chat messages per second (50)")
    group.add_argument("--desk-typing-chat-visitors", type=int, default=20, help="chat visitor sockets (20)")


@dataclass
class Team:
    channel_key: str
    cookies: list[str]


def create_teams(pairs: int, team_size: int) -> list[Team]:
    """Teams of agents (available, in one queue each) with a chat channel each; the agents' session cookies."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    from interactions.models import Channel
    from routing.models import AgentProfile, Queue

    teams: list[Team] = []
    users = get_user_model()
    for number in range((pairs + team_size - 1) // team_size):
        queue = Queue.objects.create(name=f"Typing team {number}")
        channel = Channel.objects.create(
            kind=Channel.Kind.CHAT, name=f"Typing chat {number}", queue=queue, allowed_origins=[WIDGET_ORIGIN]
        )
        cookies = []
        for seat in range(min(team_size, pairs - number * team_size)):
            agent = users.objects.create_user(username=f"typist-{number}-{seat}", first_name=f"Typist{seat}")
            AgentProfile.objects.update_or_create(
                user=agent,
                defaults={"presence": AgentProfile.Presence.AVAILABLE, "chat_capacity": 1000},
            )
            queue.members.add(agent)
            client = Client()
            client.force_login(agent)
            cookies.append(f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}")
        teams.append(Team(channel.public_key, cookies))
    connections.close_all()
    return teams


def conversations_of(uuids: list[str]) -> dict[str, int]:
    """Message uuid → conversation id, for the first messages the worker has processed (ORM: run in a thread)."""
    from django.db import connections

    from interactions.models import Interaction

    try:
        rows = Interaction.objects.filter(external_id__in=uuids).values_list("external_id", "conversation_id")
        return {str(external_id): conversation_id for external_id, conversation_id in rows}
    finally:
        connections.close_all()


async def open_socket(url: str, origin: str, cookie: str = "") -> ClientConnection:
    return await connect(
        url,
        origin=Origin(origin),
        additional_headers={"Cookie": cookie} if cookie else None,
        max_queue=None,
        compression=None,
        open_timeout=30,
        close_timeout=2,
    )


async def hello(connection: ClientConnection, frame: dict[str, Any]) -> None:
    await connection.send(json.dumps(frame))
    while True:
        answer = json.loads(await asyncio.wait_for(connection.recv(), 30))
        if answer.get("type") == "welcome":
            return
        if answer.get("type") == "error":
            raise RuntimeError(f"hello refused: {answer}")


class People:
    """Every agent's and visitor's socket, their readers, and the typing load."""

    def __init__(self, stack: Stack, teams: list[Team], pairs: int, team_size: int) -> None:
        self.stack, self.teams, self.team_size = stack, teams, team_size
        self.pairs = [Pair(index) for index in range(pairs)]
        self.desks: list[ClientConnection] = []
        self.widgets: list[ClientConnection] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.stats = Stats()

    def team_of(self, index: int) -> Team:
        return self.teams[index // self.team_size]

    async def connect(self) -> None:
        limit = asyncio.Semaphore(20)

        async def desk(index: int) -> ClientConnection:
            async with limit:
                cookie = self.team_of(index).cookies[index % self.team_size]
                connection = await open_socket(f"{self.stack.ws_url}/ws/desk/", self.stack.base_url, cookie)
                await hello(connection, {"type": "hello", "last_event_id": 0})
                return connection

        async def widget(index: int) -> ClientConnection:
            async with limit:
                connection = await open_socket(f"{self.stack.ws_url}/ws/widget/", WIDGET_ORIGIN)
                key = self.team_of(index).channel_key
                await hello(connection, {"type": "hello", "channel": key, "token": None, "last_event_id": None})
                return connection

        self.desks = list(await asyncio.gather(*(desk(p.index) for p in self.pairs)))
        self.widgets = list(await asyncio.gather(*(widget(p.index) for p in self.pairs)))
        for pair in self.pairs:
            self.tasks.append(asyncio.create_task(self.read_desk(pair)))
            self.tasks.append(asyncio.create_task(self.read_widget(pair)))

    async def open_conversations(self) -> None:
        """Each visitor's first message opens its conversation; wait until the worker stored them all."""
        uuids = [str(uuid.uuid4()) for _pair in self.pairs]
        for pair, message_uuid in zip(self.pairs, uuids, strict=True):
            frame = {"type": "message.send", "uuid": message_uuid, "text": f"typing bench {pair.index}"}
            await self.widgets[pair.index].send(json.dumps(frame))
        deadline = time.monotonic() + 120
        while True:
            found = await asyncio.to_thread(conversations_of, uuids)
            if len(found) == len(uuids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if len(found) < len(uuids):
            raise RuntimeError(f"only {len(found)} of {len(uuids)} conversations opened in 120 s")
        for pair, message_uuid in zip(self.pairs, uuids, strict=True):
            pair.conversation_id = found[message_uuid]

    async def read_desk(self, pair: Pair) -> None:
        async for text in self.desks[pair.index]:
            frame = json.loads(text)
            data = frame.get("data", {})
            if frame.get("type") == "presence.viewers":
                # The server recorded agent j viewing the conversation: typing to it now reaches his desk.
                if data.get("conversation_id") == pair.conversation_id and data.get("viewers"):
                    pair.viewed.set()
                continue
            if frame.get("type") != "presence.typing":
                continue
            if data.get("who") == "visitor" and data.get("conversation_id") == pair.conversation_id:
                pair.arrive("v2a", data.get("typing") is True, self.stats)

    async def read_widget(self, pair: Pair) -> None:
        async for text in self.widgets[pair.index]:
            frame = json.loads(text)
            if frame.get("type") == "agent.typing":
                pair.arrive("a2v", frame.get("data", {}).get("typing") is True, self.stats)

    async def send_typing(self, pair: Pair, direction: str, state: bool) -> None:
        counted = pair.send(direction, state, recording=self.stats.recording)
        if direction == "a2v":
            frame = {"type": "typing", "conversation_id": pair.conversation_id, "typing": state}
            await self.desks[pair.index].send(json.dumps(frame))
        else:
            await self.widgets[pair.index].send(json.dumps({"type": "typing", "typing": state}))
        if counted:
            self.stats.sent += 1
        elif self.stats.recording:
            self.stats.uncounted += 1

    async def toggle_forever(self, pair: Pair, interval: float) -> None:
        """Agent j and visitor j each toggle their typing state every `interval` seconds, on an absolute schedule."""
        await asyncio.sleep(random.uniform(0, interval))
        state = False
        start = time.perf_counter()
        step = 0
        while True:
            state = not state
            await self.send_typing(pair, "a2v", state)
            await self.send_typing(pair, "v2a", state)
            step += 1
            delay = start + step * interval - time.perf_counter()
            await asyncio.sleep(max(delay, 0))

    async def type_in_bursts(self, pair: Pair, direction: str) -> None:
        """One person typing in bursts through the client's throttle; sleeps until each frame is due (not per key)."""
        throttle = ClientThrottle()
        moment = time.perf_counter() + random.uniform(0, 4)
        while True:
            length, pause = random.uniform(1, 8), random.uniform(0.5, 8)
            frames = throttle.frames_of_burst(moment, length) + throttle.after_pause(moment + length, pause)
            for at, state in frames:
                await asyncio.sleep(max(at - time.perf_counter(), 0))
                await self.send_typing(pair, direction, state)
            moment += length + pause

    async def view_forever(self, pair: Pair) -> None:
        """Agent j has visitor j's conversation open: the desk's viewing heartbeat, every 10 s.

        After the first, on its own phase: desk.js beats every 10 s from when its page loaded (setInterval), so 200
        desks beat at 20 a second, not 200 in the same millisecond as a single timer in this process would make
        them (each such volley held the server's loop for ~150-300 ms, docs/typing.md)."""
        first = True
        while True:
            frame = {"type": "viewing", "conversation_id": pair.conversation_id, "composing": False}
            await self.desks[pair.index].send(json.dumps(frame))
            await asyncio.sleep(random.uniform(0, 10) if first else 10)
            first = False

    async def start_viewing(self) -> list[asyncio.Task[None]]:
        """Every agent opens his visitor's conversation, and the desk is told it views it, before anyone types: as
        people do (no one types into a conversation before it is open), and a visitor's typing before then reaches
        no desk, by design."""
        tasks = [asyncio.create_task(self.view_forever(pair)) for pair in self.pairs]
        try:
            await asyncio.wait_for(asyncio.gather(*(pair.viewed.wait() for pair in self.pairs)), 60)
        except TimeoutError:
            for task in tasks:
                task.cancel()
            viewing = sum(pair.viewed.is_set() for pair in self.pairs)
            message = f"only {viewing} of {len(self.pairs)} desks were told they view their conversation in 60 s"
            raise RuntimeError(message) from None
        return tasks

    def start_typing(self, pattern: str, interval: float) -> list[asyncio.Task[None]]:
        if pattern == "toggle":
            return [asyncio.create_task(self.toggle_forever(pair, interval)) for pair in self.pairs]
        return [
            asyncio.create_task(self.type_in_bursts(pair, direction))
            for pair in self.pairs
            for direction in ("a2v", "v2a")
        ]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in self.desks + self.widgets), return_exceptions=True)


def chat_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        messages=args.desk_typing_chat_messages,
        visitors=args.desk_typing_chat_visitors,
        drain_timeout=chat_e2e.DRAIN_TIMEOUT,
    )


async def measure(stack: Stack, args: argparse.Namespace, teams: list[Team], fixture: Any) -> dict[str, Any]:
    people = People(stack, teams, args.desk_typing_pairs, args.desk_typing_team_size)
    try:
        logger.info("connecting %d desks and %d widgets", len(people.pairs), len(people.pairs))
        await people.connect()
        await people.open_conversations()
        rate = args.desk_typing_chat_rate
        logger.info("chat without typing load: %d messages at %s/s", args.desk_typing_chat_messages, rate)
        without = await chat_e2e.run_one(stack, fixture, chat_args(args), rate)
        viewing = await people.start_viewing()
        pattern, interval = args.desk_typing_pattern, args.desk_typing_interval
        logger.info("typing load: %d people, %s (interval %.2f s if toggle)", 2 * len(people.pairs), pattern, interval)
        typing = [*people.start_typing(pattern, interval), asyncio.create_task(probe_loop_lag(people.stats))]
        await asyncio.sleep(max(5.0, 2 * interval))  # every typist has started, no cold start
        people.stats.recording = True
        recording_from = time.perf_counter()
        with_typing = await chat_e2e.run_one(stack, fixture, chat_args(args), rate)
        recorded_s = time.perf_counter() - recording_from
        people.stats.recording = False
        for task in typing + viewing:
            task.cancel()
        await asyncio.gather(*typing, *viewing, return_exceptions=True)
        # Frames still on their way are counted when they arrive (late, not lost), up to the drain timeout.
        deadline = time.monotonic() + chat_e2e.DRAIN_TIMEOUT
        while time.monotonic() < deadline and any(pair.unanswered() for pair in people.pairs):
            await asyncio.sleep(0.2)
    finally:
        await people.close()
    stats = people.stats
    a2v, v2a = sorted(stats.latencies["a2v"]), sorted(stats.latencies["v2a"])
    both = sorted(a2v + v2a)
    unanswered = sum(pair.unanswered() for pair in people.pairs)
    slowdown = (
        (without["msg_per_s"] - with_typing["msg_per_s"]) / without["msg_per_s"] * 100 if without["msg_per_s"] else 0
    )
    p99 = percentile(both, 99)
    lags = sorted(stats.loop_lags)
    return {
        "bench": "desk_typing",
        "agents": len(people.pairs),
        "visitors": len(people.pairs),
        "team_size": args.desk_typing_team_size,
        "pattern": args.desk_typing_pattern,
        "interval_s": args.desk_typing_interval if args.desk_typing_pattern == "toggle" else None,
        "typing_frames_per_s": round((stats.sent + stats.uncounted) / recorded_s, 1) if recorded_s > 0 else None,
        "typing_frames_sent": stats.sent,
        "typing_frames_not_counted": stats.uncounted,
        "typing_frames_delivered": len(both),
        "typing_lost": stats.lost + unanswered,
        "typing_p50_ms": rounded(percentile(both, 50)),
        "typing_p99_ms": rounded(p99),
        "typing_max_ms": rounded(both[-1]) if both else None,
        "agent_to_visitor_p99_ms": rounded(percentile(a2v, 99)),
        "visitor_to_agent_p99_ms": rounded(percentile(v2a, 99)),
        "chat_rate_per_s": rate,
        "chat_msg_per_s_without": without["msg_per_s"],
        "chat_msg_per_s_with": with_typing["msg_per_s"],
        "chat_slowdown_pct": round(slowdown, 1),
        "chat_p99_ms_without": without["p99_ms"],
        "chat_p99_ms_with": with_typing["p99_ms"],
        "chat_missing_with": with_typing["missing"],
        "client_loop_lag_p99_ms": rounded(percentile(lags, 99)),
        "client_loop_lag_max_ms": rounded(lags[-1]) if lags else None,
        "typing_p99_ok": bool(both) and p99 < TYPING_P99_TARGET_MS,
        "chat_slowdown_ok": slowdown <= SLOWDOWN_TARGET_PCT,
    }


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    if getattr(args, "smoke", False):
        for name, value in SMOKE_SIZES.items():
            setattr(args, f"desk_typing_{name}", value)
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url or not redis_url:
        raise SystemExit("desk_typing needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    if min(args.desk_typing_pairs, args.desk_typing_team_size, args.desk_typing_chat_messages) < 1:
        raise SystemExit("--desk-typing-pairs, --desk-typing-team-size and --desk-typing-chat-messages must be > 0")
    logger.info("preparing database %s and flushing %s", DATABASE, redis_url)
    bench_url = fresh_database(database_url, DATABASE, bench="desk_typing")
    flush_redis(redis_url)
    migrate(bench_url, redis_url)
    setup_django(bench_url, redis_url)
    fixture = create_fixture()
    teams = create_teams(args.desk_typing_pairs, args.desk_typing_team_size)
    # As chat_e2e: its visitors send far faster than people type; lift the widget's rate limits, not the frame cap.
    unlimited = {
        name: "100000"
        for name in (
            "OMNIDESK_WIDGET_VISITOR_RATE",
            "OMNIDESK_WIDGET_VISITOR_BURST",
            "OMNIDESK_WIDGET_SOCKET_RATE",
            "OMNIDESK_WIDGET_SOCKET_BURST",
            "OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE",
        )
    }
    stack = Stack(database_url=bench_url, redis_url=redis_url, worker_concurrency=2, extra_env=unlimited)
    try:
        stack.start(timeout=60)
        with asyncio.Runner(loop_factory=chat_e2e.new_event_loop) as runner:
            emit(runner.run(measure(stack, args, teams, fixture)))
    finally:
        with contextlib.suppress(Exception):
            stack.stop()
