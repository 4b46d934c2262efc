"""`python -m bench`: run the benchmarks; results as JSON lines on stdout, everything else on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench import chat_e2e


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="End-to-end benchmarks on the real stack. Needs DATABASE_URL (PostgreSQL) and REDIS_URL.",
    )
    chat_e2e.add_arguments(parser)
    args = parser.parse_args(argv)
    chat_e2e.run(args, emit=emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
