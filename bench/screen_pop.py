"""screen_pop: a CTI `ringing` webhook → the screen pop's websocket frame at the agent, on the real stack.

What is measured
    C calls from P known callers (each with a phone identity and a chat history) are announced by signed `ringing`
    POSTs to /hooks/cti/<channel>/ (served as the Procfile serves it: gunicorn's `hooks` process; uvicorn with
    --screen-pop-hooks-server uvicorn), on an absolute schedule at R calls/s (open loop: a slow pipeline shows up as
    latency, not as a politely slower client). Every call targets one agent, whose desk socket is open.
    Latency of a call = the moment the desk received the `call.ringing` frame with the call's id - the moment just
    before the POST was written. Path covered: the hooks server (signature check, InboundEvent INSERT, commit) →
    Celery task (Redis broker) → worker: Call row, caller lookup, Interaction + Conversation, routing, the 360°
    reads, Event rows, commit → channels-redis pubsub → uvicorn's DeskConsumer → the agent's socket. Each measured
    call is hung up (not timed) once its pop arrived, so calls do not pile up as ringing.

Reading a line
    {"bench": "screen_pop", "calls": C, "rate_per_s": R, "delivered": D, "missing": M, "p50_ms": …, "p90_ms": …,
     "p99_ms": …, "max_ms": …}
    delivered + missing == calls; missing: no pop within --screen-pop-drain seconds after the last POST. Goal:
    p99 < 100 ms. Warm-up (not counted): 10 calls first. Also: worker_cpu_ms_per_call, postgres_cpu_ms_per_call,
    server_cpu_ms_per_call (CPU time per call, ringing + hang-up: the figures to compare on a busy machine), whether
    the backlog was settled before the next rate started (backlog_settled), and the 1-minute load average.

Uses its own database (DATABASE_URL with the name replaced by `omnidesk_bench_screen_pop`, dropped and re-created)
and flushes the Redis db of REDIS_URL. Stack logs go to test-artifacts/.
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bench.environment import configure_logging, flush_redis, fresh_database, migrate, setup_django
from bench.measures import cpu_report, cpu_ticks, machine_busy_ticks, percentile, rounded, summary_ms
from bench.webhook_ingest import WebhookStack
from tests.stack import Stack

logger = logging.getLogger("bench.screen_pop")
DATABASE = "omnidesk_bench_screen_pop"
SECRET = "bench-cti-secret"
WARMUP = 10

Emit = Callable[[dict[str, Any]], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("screen_pop")
    group.add_argument("--screen-pop-calls", type=int, default=200, help="measured calls per rate (default 200)")
    group.add_argument(
        "--screen-pop-rates",
        default="2,5,10",
        help="comma-separated call rates per second, one run each (default 2,5,10)",
    )
    group.add_argument("--screen-pop-callers", type=int, default=50, help="distinct known callers (default 50)")
    group.add_argument("--screen-pop-drain", type=float, default=10.0, help="seconds to wait for late pops")
    group.add_argument("--screen-pop-worker-concurrency", type=int, default=2, help="Celery worker processes")
    group.add_argument(
        "--screen-pop-hooks-server",
        choices=("gunicorn", "uvicorn"),
        default="gunicorn",
        help="who serves /hooks/cti/: gunicorn's hooks application, as the Procfile deploys it (default), or uvicorn "
        "with the whole site, beside the desk's sockets",
    )


@dataclass(frozen=True)
class Fixture:
    channel_uuid: str
    cookie: str
    numbers: list[str]


def create_fixture(callers: int) -> Fixture:
    """A Support queue, a phone channel routed to it, an available agent, and known callers with some history."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    from customers.models import Customer, Identity
    from interactions.models import Channel, Conversation, Interaction
    from routing.models import AgentProfile, Queue

    queue = Queue.objects.create(name="Bench phone")
    phone = Channel.objects.create(
        kind=Channel.Kind.VOICE, name="Bench hotline", queue=queue, secrets={"cti_secret": SECRET}
    )
    chat = Channel.objects.create(kind=Channel.Kind.CHAT, name="Bench chat", queue=queue)
    agent = get_user_model().objects.create_user(username="bench-agent", first_name="Bench")
    AgentProfile.objects.update_or_create(
        user=agent, defaults={"presence": AgentProfile.Presence.AVAILABLE, "chat_capacity": 30_000}
    )
    queue.members.add(agent)
    numbers = []
    for index in range(callers):
        number = f"+3361{index:07d}"
        customer = Customer.objects.create(display_name=f"Caller {index}")
        Identity.objects.create(customer=customer, kind=Identity.Kind.PHONE, address=number)
        case = Conversation.objects.create(customer=customer, channel=chat, queue=queue, assignee=agent)
        Interaction.objects.bulk_create(
            [
                Interaction(conversation=case, customer=customer, channel=chat, direction="in", text=f"Message {n}")
                for n in range(20)
            ]
        )
        numbers.append(number)
    client = Client()
    client.force_login(agent)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    connections.close_all()
    return Fixture(channel_uuid=str(phone.uuid), cookie=cookie, numbers=numbers)


class Desk:
    """The agent's desk socket: when each call's `call.ringing` frame arrived."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.arrivals: dict[str, float] = {}
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
        )
        await connection.send(json.dumps({"type": "hello", "last_event_id": None}))
        while json.loads(await asyncio.wait_for(connection.recv(), 10)).get("type") != "welcome":
            pass
        return cls(connection)

    async def read(self) -> None:
        async for text in self.connection:
            at = time.perf_counter()
            frame = json.loads(text)
            if frame.get("type") != "call.ringing":
                continue
            call_id = frame["data"]["call_id"]
            self.arrivals.setdefault(call_id, at)
            self.waiting.discard(call_id)
            if not self.waiting:
                self.all_in.set()

    async def wait_for_all(self, timeout: float) -> None:
        if self.waiting:
            self.all_in.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_in.wait(), timeout)


def profiled_fixture(*, database: str, bench: str, callers: int) -> tuple[Fixture, Any]:
    """For the in-process profiles (bench/screen_pop_profile.py, bench/screen_pop_events.py): this benchmark's data
    set in its own fresh database, Django set up on it; the fixture, and the phone channel the events go to."""
    url = fresh_database(os.environ["DATABASE_URL"], database, bench=bench)
    redis_url = os.environ.get("REDIS_URL", "")
    migrate(url, redis_url)
    setup_django(url, redis_url)
    from interactions.models import Channel

    fixture = create_fixture(callers)
    return fixture, Channel.objects.get(uuid=fixture.channel_uuid)


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    from interactions.intake import timestamped_signature
    from interactions.phone import cti

    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        cti.TIMESTAMP_HEADER: stamp,
        cti.SIGNATURE_HEADER: timestamped_signature(secret=SECRET, timestamp=stamp, body=raw),
    }
    return raw, headers


async def ring(
    client: httpx.AsyncClient, url: str, call_id: str, number: str, sent: dict[str, float], wall: dict[str, float]
) -> None:
    raw, headers = signed({"event": "ringing", "call_id": call_id, "from": number, "agent": "bench-agent"})
    sent[call_id], wall[call_id] = time.perf_counter(), time.time()
    response = await client.post(url, content=raw, headers=headers)
    if response.status_code != 202:
        logger.warning("ringing %s answered %s: %s", call_id, response.status_code, response.text[:200])


async def hang_up_when_popped(client: httpx.AsyncClient, url: str, desk: Desk, call_ids: list[str]) -> None:
    """Not timed: end each call once its pop arrived, so the agent is not left with hundreds of ringing calls."""
    pending = list(call_ids)
    while pending:
        ready = [call_id for call_id in pending if call_id in desk.arrivals]
        for call_id in ready:
            raw, headers = signed({"event": "hangup", "call_id": call_id, "cause": "answered_elsewhere"})
            await client.post(url, content=raw, headers=headers)
            pending.remove(call_id)
        await asyncio.sleep(0.05)


async def run_rate(
    stack: WebhookStack, fixture: Fixture, args: argparse.Namespace, rate: float, run: int
) -> dict[str, Any]:
    desk = await Desk.open(stack, fixture.cookie)
    reader = asyncio.create_task(desk.read())
    url = f"http://127.0.0.1:{stack.hooks_port}/hooks/cti/{fixture.channel_uuid}/"
    sent: dict[str, float] = {}
    wall: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as client:
            tasks: list[asyncio.Task[None]] = []
            total = WARMUP + args.screen_pop_calls
            call_ids = [f"bench-{run}-{n}" for n in range(total)]
            desk.waiting.update(call_ids)
            hangups = asyncio.create_task(hang_up_when_popped(client, url, desk, call_ids))
            start = time.perf_counter() + 0.05
            cpu_before, busy_before = cpu_ticks(stack), machine_busy_ticks()
            for index, call_id in enumerate(call_ids):
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                number = fixture.numbers[index % len(fixture.numbers)]
                tasks.append(asyncio.create_task(ring(client, url, call_id, number, sent, wall)))
            await asyncio.gather(*tasks)
            seconds = time.perf_counter() - start
            cpu = cpu_report(cpu_before, cpu_ticks(stack), machine_busy_ticks() - busy_before, seconds)
            await desk.wait_for_all(args.screen_pop_drain)
            hangups.cancel()
            await asyncio.gather(hangups, return_exceptions=True)
            # Every event of this rate processed (the hang-ups too) before the CPU is read and the next rate starts:
            # a backlog left here would be charged to the next rate's latencies.
            settled = await asyncio.to_thread(wait_for_backlog, args.screen_pop_drain)
            per_call = cpu_ms_per_call(cpu_before, cpu_ticks(stack), calls=total)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await desk.connection.close()
    measured = call_ids[WARMUP:]
    latencies = sorted((desk.arrivals[c] - sent[c]) * 1000 for c in measured if c in desk.arrivals and c in sent)
    stages = await asyncio.to_thread(
        stage_breakdown, measured, wall, {c: desk.arrivals[c] - sent[c] for c in sent if c in desk.arrivals}
    )
    logger.info("rate %s/s: %s\n  stages (from InboundEvent timestamps):\n%s", rate, cpu, stages)
    return {
        "bench": "screen_pop",
        "calls": len(measured),
        "rate_per_s": rate,
        "delivered": len(latencies),
        "missing": len(measured) - len(latencies),
        "p50_ms": rounded(percentile(latencies, 50)),
        "p90_ms": rounded(percentile(latencies, 90)),
        "p99_ms": rounded(percentile(latencies, 99)),
        "max_ms": rounded(latencies[-1] if latencies else math.nan),
        # CPU time per call (ringing + hang-up, warm-up included), summed over the processes of each role: less
        # sensitive than the latencies to other work on the machine.
        "worker_cpu_ms_per_call": rounded(per_call["worker-pool"] + per_call["worker-main"]),
        "postgres_cpu_ms_per_call": rounded(per_call["postgres"]),
        "server_cpu_ms_per_call": rounded(per_call["server"]),
        "backlog_settled": settled,
        "loadavg_1m": load_average(),
    }


def cpu_ms_per_call(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], *, calls: int
) -> dict[str, float]:
    """Milliseconds of CPU per call used by each role's processes between the two samples (see bench/measures.py)."""
    used: dict[str, float] = {}
    for pid, (role, ticks) in after.items():
        previous = before.get(pid)
        used[role] = used.get(role, 0) + ticks - (previous[1] if previous and previous[0] == role else 0)
    hz = os.sysconf("SC_CLK_TCK")
    return {
        role: used.get(role, 0) * 1000 / hz / max(calls, 1)
        for role in ("worker-pool", "worker-main", "postgres", "server")
    }


def load_average() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def wait_for_backlog(timeout: float) -> bool:
    """Wait until no inbound event is left unprocessed (True), or `timeout` seconds (False)."""
    from django.db import connections

    from interactions.models import InboundEvent

    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not InboundEvent.objects.filter(processed_at__isnull=True, dead_lettered_at__isnull=True).exists():
                return True
            time.sleep(0.2)
        return False
    finally:
        connections.close_all()


def stage_breakdown(call_ids: list[str], wall: dict[str, float], latency: dict[str, float]) -> str:
    """Each pop's latency split at its ringing event's timestamps (same host clock):
    ingest = stored - POST, queue = picked by a worker - stored, task = processed - picked (its batch's end),
    push = frame at the desk - processed."""
    from django.db import connections

    from interactions.models import InboundEvent

    stages: dict[str, list[float]] = {"ingest": [], "queue": [], "task": [], "push": []}
    try:
        rows = InboundEvent.objects.filter(external_id__in=[f"{c}:ringing" for c in call_ids]).values_list(
            "external_id", "received_at", "last_attempt_at", "processed_at"
        )
        for key, received, attempted, processed in rows:
            call_id = key.rsplit(":", 1)[0]
            if call_id not in latency or attempted is None or processed is None:
                continue
            stages["ingest"].append(received.timestamp() - wall[call_id])
            stages["queue"].append(attempted.timestamp() - received.timestamp())
            stages["task"].append(processed.timestamp() - attempted.timestamp())
            stages["push"].append(wall[call_id] + latency[call_id] - processed.timestamp())
    finally:
        connections.close_all()
    return "\n".join(f"  {name:<6} {summary_ms(values)}" for name, values in stages.items())


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url or not redis_url:
        raise SystemExit("screen_pop needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    rates = [float(r) for r in args.screen_pop_rates.split(",") if r.strip()]
    if args.screen_pop_calls < 1 or not rates or min(rates) <= 0:
        raise SystemExit("--screen-pop-calls and every rate must be positive")
    bench_url = fresh_database(database_url, DATABASE, bench="screen_pop")
    flush_redis(redis_url)
    migrate(bench_url, redis_url)
    setup_django(bench_url, redis_url)
    fixture = create_fixture(args.screen_pop_callers)
    stack = WebhookStack(
        database_url=bench_url,
        redis_url=redis_url,
        worker_concurrency=args.screen_pop_worker_concurrency,
        hooks_server=args.screen_pop_hooks_server,
    )
    try:
        logger.info("starting uvicorn on :%d, the hooks on %s and a Celery worker", stack.port, stack.hooks_server)
        stack.start(timeout=60)
        for run_number, rate in enumerate(rates):
            emit(asyncio.run(run_rate(stack, fixture, args, int(rate) if rate.is_integer() else rate, run_number)))
    finally:
        stack.stop()
