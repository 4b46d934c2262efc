"""chat_e2e: a website visitor's chat message → the agent's desk, end to end, on the real stack.

What is measured
    V visitors keep `/ws/widget/` sockets open; one scheduler spreads N `message.send` frames over them round-robin
    at a fixed aggregate rate R. The load is open-loop: every send is scheduled by absolute time and never waits for
    an earlier acknowledgement, so a slow pipeline shows up as growing latency instead of a politely slower client.
    One agent (a member of the channel's queue, to whom the conversations get assigned) keeps a `/ws/desk/` socket.
    Latency of a message = the moment the desk socket received the `message.created` frame carrying the message's
    client uuid - the moment just before the visitor's frame was written. Path covered: uvicorn WidgetConsumer →
    InboundEvent INSERT (PostgreSQL) → Celery task (Redis broker) → worker: Interaction + Event rows, commit →
    channels-redis pubsub → uvicorn DeskConsumer → the agent's socket. The client runs on the same 2 cores as the
    stack, so its own CPU is part of the picture (it is small; see the cpu line on stderr).

Reading a line
    {"bench": "chat_e2e", "messages": N, "visitors": V, "rate_per_s": R, "delivered": D, "missing": M,
     "duplicates": X, "p50_ms": …, "p90_ms": …, "p99_ms": …, "max_ms": …, "msg_per_s": …}
    - delivered + missing == messages. missing > 0: the desk never saw the message within ~10 s after the last send
      (lost on the at-most-once pubsub layer, failed in the worker, or the pipeline is that far behind).
    - duplicates: extra copies of one message received by the desk (expected 0: the desk de-duplicates by event id).
    - Percentiles are nearest-rank over the delivered messages, in milliseconds.
    - msg_per_s = delivered / (last delivery - first send). Close to rate_per_s means the pipeline kept up; below it,
      a backlog built up and the percentiles measure queueing (they grow with --messages), not service time. It
      includes the last message's latency in its span, so even a pipeline that keeps up reads short of the rate on a
      short run (1,000 messages at 500/s with 100 ms of latency: 476/s).
    - delivery_per_s = (delivered - 1) / (last delivery - first delivery): the rate the desk received them at.
    Warm-up, not counted: each run first sends one message per visitor (at least 50), which opens and routes the
    conversations, and waits for them; the measured messages are follow-ups in open, assigned chats.
    Runs are independent: each uses new visitor and desk sockets, and when a run left a backlog (missing messages or
    stored ones not processed yet) uvicorn and the worker are restarted with an empty broker before the next run, so a
    saturated run does not spill over into the next one.

Diagnostics on stderr, per run: the send→`message.accepted` latency (ingest only), how late the client sent
compared with its schedule (should stay ~0; if not, the client itself is starved), CPU use per process group, and
a per-stage breakdown from the InboundEvent timestamps (same host clock):
    ingest  = InboundEvent.received_at - send          (websocket frame → row insert in uvicorn)
    queue   = last_attempt_at - received_at            (ingest commit + enqueue + broker + waiting for a worker slot)
    task    = processed_at - last_attempt_at           (task body until just before its commit)
    push    = desk frame - processed_at                (commit + group_send xgroups + pubsub + DeskConsumer + client)

Uses its own database (DATABASE_URL with the name replaced by `omnidesk_bench`, dropped and re-created) and flushes
the Redis db of REDIS_URL. Stack logs go to test-artifacts/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bench.environment import (
    BENCH_DATABASE,
    WIDGET_ORIGIN,
    Fixture,
    configure_logging,
    create_fixture,
    flush_redis,
    fresh_database,
    migrate,
    setup_django,
)
from bench.measures import cpu_report, cpu_ticks, machine_busy_ticks, percentile, rounded, summary_ms
from tests.stack import Stack

logger = logging.getLogger("bench.chat_e2e")

MIN_WARMUP = 50
DRAIN_TIMEOUT = 10.0

Emit = Callable[[dict[str, Any]], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("chat_e2e")
    group.add_argument("--messages", type=int, default=2000, help="measured messages per rate (default 2000)")
    group.add_argument("--visitors", type=int, default=50, help="concurrent visitor sockets (default 50)")
    group.add_argument(
        "--rates",
        default="50,100,200",
        help="comma-separated aggregate send rates in msg/s, one run each (default 50,100,200)",
    )
    group.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    group.add_argument(
        "--drain-timeout", type=float, default=DRAIN_TIMEOUT, help="seconds to wait for stragglers after the last send"
    )


@dataclass
class Clock:
    """Both clocks at one instant: perf_counter for latencies, wall time to compare with the database's timestamps."""

    perf: float
    wall: float

    @classmethod
    def now(cls) -> Clock:
        return cls(time.perf_counter(), time.time())


class Desk:
    """The agent's desk socket: records when each message uuid arrives in a `message.created` frame."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.arrivals: dict[str, list[Clock]] = {}
        self.waiting: set[str] = set()
        self.all_in = asyncio.Event()

    @classmethod
    async def open(cls, stack: Stack, cookie: str) -> Desk:
        connection = await connect(
            f"{stack.ws_url}/ws/desk/",
            origin=Origin(stack.base_url),
            additional_headers={"Cookie": cookie},
            max_queue=None,
            compression=None,
            close_timeout=2,
        )
        await connection.send(json.dumps({"type": "hello", "last_event_id": 0}))
        while True:
            frame = json.loads(await asyncio.wait_for(connection.recv(), 10))
            if frame.get("type") == "welcome":
                return cls(connection)

    def expect(self, message_uuid: str) -> None:
        self.waiting.add(message_uuid)

    async def wait_for_all(self, timeout: float) -> bool:
        if not self.waiting:
            return True
        self.all_in.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_in.wait(), timeout)
        return not self.waiting

    async def read(self) -> None:
        async for text in self.connection:
            at = Clock.now()
            frame = json.loads(text)
            message_uuid = (
                frame.get("data", {}).get("message", {}).get("uuid") if frame.get("type") == "message.created" else None
            )
            if not message_uuid:
                continue  # conversation.queued / conversation.assigned / …
            self.arrivals.setdefault(message_uuid, []).append(at)
            self.waiting.discard(message_uuid)
            if not self.waiting:
                self.all_in.set()
        raise ConnectionError("the desk socket closed during the benchmark")


@dataclass
class Outcome:
    """What the visitors saw, shared by all of them (one run)."""

    sent: dict[str, Clock] = field(default_factory=dict)
    accepted: dict[str, float] = field(default_factory=dict)
    errors: int = 0


class Visitor:
    """One widget socket: a sender task fed by the scheduler, and a reader task that drains the socket."""

    def __init__(self, connection: ClientConnection, outcome: Outcome) -> None:
        self.connection = connection
        self.outcome = outcome
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, stack: Stack, channel_key: str, outcome: Outcome) -> Visitor:
        connection = await connect(
            f"{stack.ws_url}/ws/widget/",
            origin=Origin(WIDGET_ORIGIN),
            max_queue=None,
            compression=None,
            open_timeout=20,
            close_timeout=2,
        )
        await connection.send(
            json.dumps({"type": "hello", "channel": channel_key, "token": None, "last_event_id": None})
        )
        frame = json.loads(await asyncio.wait_for(connection.recv(), 20))
        if frame.get("type") != "welcome":
            raise RuntimeError(f"widget hello refused: {frame}")
        visitor = cls(connection, outcome)
        visitor.tasks = [asyncio.create_task(visitor.send_loop()), asyncio.create_task(visitor.read_loop())]
        return visitor

    async def send_loop(self) -> None:
        while True:
            message_uuid = await self.outbox.get()
            text = json.dumps({"type": "message.send", "uuid": message_uuid, "text": f"bench {message_uuid[:8]}"})
            self.outcome.sent[message_uuid] = Clock.now()
            await self.connection.send(text)

    async def read_loop(self) -> None:
        async for text in self.connection:
            at = time.perf_counter()
            frame = json.loads(text)
            if frame.get("type") == "message.accepted":
                self.outcome.accepted[frame["uuid"]] = at
            elif frame.get("type") == "error":
                self.outcome.errors += 1
                if self.outcome.errors <= 5:
                    logger.warning("widget error frame: %s", frame)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.connection.close()


async def open_visitors(stack: Stack, channel_key: str, count: int, outcome: Outcome) -> list[Visitor]:
    limit = asyncio.Semaphore(25)

    async def one() -> Visitor:
        async with limit:
            return await Visitor.open(stack, channel_key, outcome)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def paced_sends(visitors: list[Visitor], desk: Desk, *, count: int, rate: float) -> tuple[list[str], list[float]]:
    """Hand `count` messages to the visitors round-robin on an absolute schedule. Returns the uuids and the lag of
    each hand-off behind its scheduled time (seconds)."""
    uuids: list[str] = []
    lags: list[float] = []
    start = time.perf_counter() + 0.02
    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        message_uuid = str(uuid.uuid4())
        desk.expect(message_uuid)
        visitors[index % len(visitors)].outbox.put_nowait(message_uuid)
        uuids.append(message_uuid)
        lags.append(time.perf_counter() - scheduled)
    return uuids, lags


def stage_breakdown(uuids: list[str], sent: dict[str, Clock], arrivals: dict[str, list[Clock]]) -> str:
    """Split each delivered message's latency at the InboundEvent timestamps (runs in a thread: it uses the ORM)."""
    from django.db import connections

    from interactions.models import InboundEvent

    stages: dict[str, list[float]] = {"ingest": [], "queue": [], "task": [], "push": []}
    try:
        rows = InboundEvent.objects.filter(external_id__in=uuids).values_list(
            "external_id", "received_at", "last_attempt_at", "processed_at"
        )
        for message_uuid, received, attempted, processed in rows:
            if message_uuid not in arrivals or attempted is None or processed is None:
                continue
            stages["ingest"].append(received.timestamp() - sent[message_uuid].wall)
            stages["queue"].append(attempted.timestamp() - received.timestamp())
            stages["task"].append(processed.timestamp() - attempted.timestamp())
            stages["push"].append(arrivals[message_uuid][0].wall - processed.timestamp())
    finally:
        connections.close_all()
    return "\n".join(f"  {name:<6} {summary_ms(values)}" for name, values in stages.items())


async def measure(
    stack: Stack, fixture: Fixture, desk: Desk, *, messages: int, visitors_count: int, rate: float, drain: float
) -> dict[str, Any]:
    outcome = Outcome()
    visitors = await open_visitors(stack, fixture.channel_key, visitors_count, outcome)
    try:
        warmup = max(MIN_WARMUP, visitors_count)
        logger.info("rate %s/s: %d visitors connected; warm-up with %d messages", rate, visitors_count, warmup)
        await paced_sends(visitors, desk, count=warmup, rate=rate)
        if not await desk.wait_for_all(30):
            logger.warning("warm-up: %d messages still not delivered after 30 s", len(desk.waiting))
        desk.waiting.clear()
        await asyncio.sleep(0.5)

        logger.info("rate %s/s: sending %d messages", rate, messages)
        cpu_before, busy_before, started = cpu_ticks(stack), machine_busy_ticks(), time.perf_counter()
        uuids, lags = await paced_sends(visitors, desk, count=messages, rate=rate)
        send_seconds = time.perf_counter() - started
        cpu_after, busy = cpu_ticks(stack), machine_busy_ticks() - busy_before
        if not await desk.wait_for_all(drain):
            logger.warning("%d messages not delivered %.0f s after the last send", len(desk.waiting), drain)
        desk.waiting.clear()
    finally:
        await asyncio.gather(*(visitor.close() for visitor in visitors), return_exceptions=True)

    latencies: list[float] = []
    duplicates = 0
    last_arrival, first_arrival = 0.0, math.inf
    for message_uuid in uuids:
        seen = desk.arrivals.get(message_uuid)
        if not seen or message_uuid not in outcome.sent:
            continue
        duplicates += len(seen) - 1
        latencies.append((seen[0].perf - outcome.sent[message_uuid].perf) * 1000)
        last_arrival = max(last_arrival, seen[0].perf)
        first_arrival = min(first_arrival, seen[0].perf)
    latencies.sort()
    delivered = len(latencies)
    first_send = min((outcome.sent[u].perf for u in uuids if u in outcome.sent), default=0.0)
    span = last_arrival - first_send
    result = {
        "bench": "chat_e2e",
        "messages": messages,
        "visitors": visitors_count,
        "rate_per_s": rate,
        "delivered": delivered,
        "missing": messages - delivered,
        "duplicates": duplicates,
        "p50_ms": rounded(percentile(latencies, 50)),
        "p90_ms": rounded(percentile(latencies, 90)),
        "p99_ms": rounded(percentile(latencies, 99)),
        "max_ms": rounded(latencies[-1] if latencies else math.nan),
        "msg_per_s": round(delivered / span, 1) if delivered and span > 0 else 0.0,
        # The rate at which the desk received them: messages after the first / the time between the first arrival
        # and the last. msg_per_s counts the last message's latency in its span, so a run of N messages that keeps
        # up exactly still reads N / ((N - 1) / R + latency), short of R; this one reads R when the pipeline keeps
        # up, and less when a backlog stretches the arrivals.
        "delivery_per_s": (
            round((delivered - 1) / (last_arrival - first_arrival), 1)
            if delivered > 1 and last_arrival > first_arrival
            else 0.0
        ),
    }

    acks = [outcome.accepted[u] - outcome.sent[u].perf for u in uuids if u in outcome.accepted and u in outcome.sent]
    hand_off = [outcome.sent[u].perf for u in uuids if u in outcome.sent]
    logger.info(
        "rate %s/s diagnostics:\n  accepted %d/%d, widget errors %d; send→accepted %s\n"
        "  scheduler lag %s; sends took %.2f s for a nominal %.2f s (%d handed to sockets)\n  %s\n"
        "  stages (from InboundEvent timestamps):\n%s",
        rate,
        len(acks),
        messages,
        outcome.errors,
        summary_ms(acks),
        summary_ms(lags),
        send_seconds,
        messages / rate,
        len(hand_off),
        cpu_report(cpu_before, cpu_after, busy, send_seconds),
        await asyncio.to_thread(stage_breakdown, uuids, outcome.sent, desk.arrivals),
    )
    return result


def pipeline_backlog() -> int:
    """Inbound events stored but not processed yet (runs in a thread: it uses the ORM)."""
    from django.db import connections

    from interactions.models import InboundEvent

    try:
        return InboundEvent.objects.filter(processed_at__isnull=True, dead_lettered_at__isnull=True).count()
    finally:
        connections.close_all()


def restart_stack(stack: Stack, redis_url: str) -> None:
    """Drop a saturated run's backlog (queued in uvicorn's executor as well as in the broker) so that the next run
    starts from an idle pipeline: stop both processes, empty the broker, start them again."""
    stack.stop()
    flush_redis(redis_url)
    stack.start(timeout=60)


async def run_one(stack: Stack, fixture: Fixture, args: argparse.Namespace, rate: float) -> dict[str, Any]:
    desk = await Desk.open(stack, fixture.cookie)
    reader = asyncio.create_task(desk.read())
    work = asyncio.create_task(
        measure(
            stack,
            fixture,
            desk,
            messages=args.messages,
            visitors_count=args.visitors,
            rate=rate,
            drain=args.drain_timeout,
        )
    )
    try:
        done, _pending = await asyncio.wait({work, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            reader.result()  # raises why the desk socket went away
        return work.result()
    finally:
        for task in (work, reader):
            task.cancel()
        await asyncio.gather(work, reader, return_exceptions=True)
        await desk.connection.close()


async def run_all(
    stack: Stack, fixture: Fixture, args: argparse.Namespace, rates: list[float], redis_url: str, emit: Emit
) -> None:
    clean = True
    for rate in rates:
        if not clean:
            logger.warning("the previous run left a backlog: restarting uvicorn and the worker with an empty broker")
            await asyncio.to_thread(restart_stack, stack, redis_url)
        result = await run_one(stack, fixture, args, rate)
        emit(result)
        clean = result["missing"] == 0 and await asyncio.to_thread(pipeline_backlog) == 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url or not redis_url:
        raise SystemExit("chat_e2e needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    rates = [int(rate) if rate.is_integer() else rate for rate in rates]
    if args.messages < 1 or args.visitors < 1 or not rates or min(rates) <= 0:
        raise SystemExit("--messages, --visitors and every rate must be positive")

    logger.info("preparing database %s and flushing %s", BENCH_DATABASE, redis_url)
    bench_url = fresh_database(database_url, BENCH_DATABASE, bench="chat_e2e")
    flush_redis(redis_url)
    migrate(bench_url, redis_url)
    setup_django(bench_url, redis_url)
    fixture = create_fixture()

    # The benchmark's visitors send far faster than a person types: lift the widget's rate limits, not the frame cap.
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
    stack = Stack(
        database_url=bench_url, redis_url=redis_url, worker_concurrency=args.worker_concurrency, extra_env=unlimited
    )
    try:
        logger.info("starting uvicorn on :%d and a Celery worker (concurrency %d)", stack.port, args.worker_concurrency)
        stack.start(timeout=60)
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(run_all(stack, fixture, args, rates, redis_url, emit))
    finally:
        stack.stop()
