"""`python -m bench`: run the benchmarks; results as JSON lines on stdout, everything else on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench import chat_e2e, timeline
from bench import search as search_bench

BENCHMARKS = ("chat_e2e", "timeline", "search")


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="End-to-end benchmarks on the real stack. Needs DATABASE_URL (PostgreSQL) and REDIS_URL.",
    )
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated benchmarks to run (default: all; they run in this order): {','.join(BENCHMARKS)}",
    )
    chat_e2e.add_arguments(parser)
    timeline.add_arguments(parser)
    search_bench.add_arguments(parser)
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) for --only: {', '.join(unknown)}")
    if "chat_e2e" in chosen:
        chat_e2e.run(args, emit=emit)
    if "timeline" in chosen:
        timeline.run(args, emit=emit)
    if "search" in chosen:
        search_bench.run(args, emit=emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
