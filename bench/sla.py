"""SLA and intent benchmarks: intent detection per call (20 intents), business-time due dates, and one SLA sweep.

    python -m bench --only sla

Prints three JSON lines:
- `intent_detection`: µs per `detect_intent` over 20 intents of 4 keywords lists and examples (goal: < 1 ms);
- `business_time`: µs per `add_business_time` on a Mon–Fri calendar with holidays, for a 4 h and a 2,000 h target;
- `sla_sweep`: one `sweep_sla` over N open conversations on PostgreSQL (a scratch database), first run (announcing
  the warnings and breaches) and second run (nothing new: idempotent), with the event counts.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.environment import configure_logging, flush_redis, fresh_database, migrate, setup_django
from bench.measures import percentile

logger = logging.getLogger("bench.sla")
Emit = Callable[[dict[str, Any]], None]
SLA_DATABASE = "omnidesk_bench_sla"

TEXTS = [
    "Bonjour, ma facture du mois dernier est fausse, j'ai été prélevé deux fois",
    "my parcel hasn't arrived yet and the tracking says nothing",
    "je veux résilier mon abonnement au plus vite",
    "internet is down since this morning",
    "quelle belle journée pour discuter",
    "factrue erronée",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sla-conversations", type=int, default=10_000, help="open conversations the sweep checks")
    parser.add_argument("--sla-calls", type=int, default=5_000, help="calls per pure measurement")


def _micro(samples: list[float]) -> dict[str, float]:
    values = sorted(s * 1e6 for s in samples)
    return {"p50_us": round(percentile(values, 50), 1), "p99_us": round(percentile(values, 99), 1)}


def _bench_intents(calls: int, emit: Emit) -> None:
    from routing.intent_detection import IntentSpec, detect_intent

    base = [
        IntentSpec(
            "billing",
            ["facture", "prélèvement", "invoice", "charged"],
            ["ma facture est fausse", "I was charged twice"],
        ),
        IntentSpec(
            "delivery", ["colis", "livraison", "parcel", "delivery"], ["où est mon colis ?", "my parcel hasn't arrived"]
        ),
        IntentSpec(
            "cancellation", ["résilier", "abonnement", "cancel"], ["je veux résilier", "cancel my subscription"]
        ),
        IntentSpec(
            "technical", ["box", "internet", "wifi", "ne marche plus"], ["la box ne marche plus", "internet is down"]
        ),
    ]
    specs = [
        IntentSpec(f"{s.key}-{n}", [f"{k}{n}" for k in s.keywords] + s.keywords, s.examples)
        for n in range(5)
        for s in base
    ]
    detect_intent("warm-up", specs)  # builds and caches the index, as the first message after a deploy would
    samples = []
    for index in range(calls):
        text = TEXTS[index % len(TEXTS)]
        started = time.perf_counter()
        detect_intent(text, specs)
        samples.append(time.perf_counter() - started)
    emit({"bench": "intent_detection", "intents": len(specs), "calls": calls, **_micro(samples)})


def _bench_business_time(calls: int, emit: Emit) -> None:
    from routing.business_time import BusinessCalendar, add_business_time

    hours = {str(day): [["09:00", "12:30"], ["13:30", "18:00"]] for day in range(5)}
    holidays = [f"{year}-{day}" for year in range(2026, 2030) for day in ("01-01", "05-01", "07-14", "12-25")]
    calendar = BusinessCalendar.from_queue_fields("Europe/Paris", hours, holidays)
    start = datetime(2026, 12, 4, 16, 45, tzinfo=UTC)
    result: dict[str, Any] = {"bench": "business_time", "calls": calls}
    for label, delta in (("4h", timedelta(hours=4)), ("2000h", timedelta(hours=2000))):
        samples = []
        for index in range(calls):
            at = start + timedelta(minutes=7 * index)
            started = time.perf_counter()
            add_business_time(calendar, at, delta)
            samples.append(time.perf_counter() - started)
        result.update({f"{label}_{key}": value for key, value in _micro(samples).items()})
    emit(result)


def _prepare_database(args: argparse.Namespace) -> None:
    import os

    url = fresh_database(os.environ["DATABASE_URL"], SLA_DATABASE, bench="sla")
    redis_url = os.environ["REDIS_URL"]
    flush_redis(redis_url)
    migrate(url, redis_url)
    setup_django(url, redis_url)


def _bench_sweep(count: int, emit: Emit) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from customers.models import Customer
    from interactions.models import Channel, Conversation
    from omnidesk.models import Event
    from routing import sla
    from routing.models import Queue

    queue = Queue.objects.create(
        name="Bench SLA",
        business_hours={str(day): [["08:00", "20:00"]] for day in range(6)},
        holidays=["2026-12-25"],
        sla_first_response_minutes=60,
        sla_resolution_minutes=24 * 60,
    )
    channel = Channel.objects.create(kind=Channel.Kind.CHAT, name="Bench chat", queue=queue)
    agent = get_user_model().objects.create_user(username="bench-sla-agent")
    customer = Customer.objects.create(display_name="Bench customer")
    now = timezone.now()
    # Due times spread from 2 h ago to 20 h ahead (wall clock): some breached, some in their warning window.
    conversations = [
        Conversation(
            customer=customer,
            channel=channel,
            queue=queue,
            assignee=agent,
            first_response_due_at=now + timedelta(minutes=-120 + (index % 1320)),
            resolution_due_at=now + timedelta(hours=20, minutes=index % 600),
        )
        for index in range(count)
    ]
    Conversation.objects.bulk_create(conversations, batch_size=2000)
    timings = []
    results = []
    for _run in range(2):
        started = time.perf_counter()
        results.append(sla.sweep_sla(now=now))
        timings.append(time.perf_counter() - started)
    first, second = results
    emit(
        {
            "bench": "sla_sweep",
            "conversations": count,
            "first_run_s": round(timings[0], 3),
            "first_warned": len(first.warned),
            "first_breached": len(first.breached),
            "second_run_s": round(timings[1], 3),
            "second_announced": len(second.warned) + len(second.breached),
            "events": Event.objects.count(),
        }
    )


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    _prepare_database(args)
    _bench_intents(args.sla_calls, emit)
    _bench_business_time(args.sla_calls, emit)
    _bench_sweep(args.sla_conversations, emit)
