"""`python -m bench`: run the benchmarks; results as JSON lines on stdout, everything else on stderr.

Each benchmark is a module of this package with `add_arguments(parser)` (options prefixed with its name, so they never
clash) and `run(args, *, emit)`. A module listed here that is not present is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from types import ModuleType
from typing import Any

# In the order they run.
BENCHMARKS = {
    "chat_e2e": "bench.chat_e2e",
    "routing": "bench.routing",
    "sla": "bench.sla",
    "webhook_ingest": "bench.webhook_ingest",
    "email_ingest": "bench.email_ingest",
    "email_vs_helpdesk": "bench.email_vs_helpdesk",
    "screen_pop": "bench.screen_pop",
    "timeline": "bench.timeline",
    "search": "bench.search",
    "reports": "bench.reports",
    "desk_typing": "bench.desk_typing",
    "contact_page": "bench.contact_page",
    "faults": "bench.faults",
}


# `--smoke`: every benchmark once at a tiny size, so CI notices a benchmark that no longer runs (its figures mean
# nothing at this size). Keys are argparse destinations; a benchmark module that is absent simply has none of them.
SMOKE = {
    "messages": 20,
    "visitors": 4,
    "rates": "20",
    "drain_timeout": 30.0,
    "routing_agents": 10,
    "routing_waiting": 50,
    "routing_releases": 5,
    "sla_conversations": 50,
    "sla_calls": 20,
    "webhook_ingest_burst": 50,
    "webhook_ingest_sustained_seconds": 2.0,
    "webhook_ingest_sustained_rate": 10.0,
    "webhook_ingest_connections": 4,
    "webhook_ingest_drain_timeout": 60.0,
    "email_ingest_messages": 20,
    "email_ingest_customers": 5,
    "email_ingest_timeout": 60.0,
    "email_vs_helpdesk_messages": 20,
    "email_vs_helpdesk_customers": 5,
    "screen_pop_calls": 5,
    "screen_pop_rates": "5",
    "screen_pop_callers": 3,
    "screen_pop_drain": 5.0,
    "crm_interactions": 1000,
    "crm_requests": 3,
    "contact_page_calls": 50,
    "contact_page_renders": 20,
    "contact_page_waiting": 5,  # contact (issue 13)
    # faults (issue 16): a short load with a kill of each kind and a Redis restart; PostgreSQL is the shared one
    # there, so it is not restarted (the full run restarts a private cluster).
    "faults_seconds": 8.0,
    "faults_webhook_rate": 8.0,
    "faults_chat_rate": 4.0,
    "faults_visitors": 2,
    "faults_child_kills": 1,
    "faults_main_kills": 1,
    "faults_redis_restarts": 1,
    "faults_postgres": "shared",
    "faults_drain_timeout": 60.0,
}


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def available() -> dict[str, ModuleType]:
    modules = {}
    for name, path in BENCHMARKS.items():
        try:
            modules[name] = importlib.import_module(path)
        except ModuleNotFoundError as error:
            if error.name != path:
                raise
    return modules


def main(argv: list[str] | None = None) -> int:
    modules = available()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="End-to-end benchmarks on the real stack. Needs DATABASE_URL (PostgreSQL) and REDIS_URL.",
    )
    parser.add_argument(
        "--only",
        default=",".join(modules),
        help=f"comma-separated benchmarks to run (default: all; they run in this order): {','.join(modules)}",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="run every chosen benchmark once at a tiny size (a CI check, not a figure)"
    )
    for module in modules.values():
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        for destination, value in SMOKE.items():
            if hasattr(args, destination):
                setattr(args, destination, value)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(modules))
    if unknown:
        parser.error(f"unknown benchmark(s) for --only: {', '.join(unknown)}")
    for name, module in modules.items():
        if name in chosen:
            module.run(args, emit=emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
