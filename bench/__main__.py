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
    "screen_pop": "bench.screen_pop",
    "timeline": "bench.timeline",
    "search": "bench.search",
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
    for module in modules.values():
        module.add_arguments(parser)
    args = parser.parse_args(argv)
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
