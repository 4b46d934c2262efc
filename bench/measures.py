"""Statistics and CPU accounting for the benchmarks."""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from tests.stack import Stack

# --- statements ------------------------------------------------------------------------------------------------------


class StatementCounter:
    """A database execute wrapper (`connection.execute_wrapper(counter)`) counting statements by their first words,
    with the time spent waiting on each kind and the statements themselves (BEGIN/COMMIT are not executes)."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.kind_seconds: dict[str, float] = {}
        self.seconds = 0.0
        self.statements: list[str] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        words = sql.split()
        kind = " ".join(words[:1] if words[0] in {"SAVEPOINT", "RELEASE"} else words[:3])[:60]
        self.kinds[kind] += 1
        self.statements.append(sql)
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - start
            self.seconds += spent
            self.kind_seconds[kind] = self.kind_seconds.get(kind, 0.0) + spent


# --- statistics ------------------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary_ms(values_s: Iterable[float]) -> str:
    values = sorted(v * 1000 for v in values_s)
    if not values:
        return "n=0"
    return (
        f"p50 {percentile(values, 50):.1f} p90 {percentile(values, 90):.1f} p99 {percentile(values, 99):.1f} "
        f"max {values[-1]:.1f} ms (n={len(values)})"
    )


def rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


# --- CPU accounting from /proc ---------------------------------------------------------------------------------------


CPU_ROLES = ("server", "worker-main", "worker-pool", "postgres", "redis", "bench")


def cpu_ticks(stack: Stack) -> dict[int, tuple[str, int]]:
    """Per process: its role and utime+stime clock ticks so far. Roles: uvicorn, the Celery worker's main process,
    its pool processes, PostgreSQL, Redis, this client."""
    server_group = stack.server.pid if stack.server else -1
    worker_group = stack.worker.pid if stack.worker else -1
    ticks: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        pid, comm = int(entry), stat[stat.find("(") + 1 : stat.rfind(")")]
        rest = stat[stat.rfind(")") + 2 :].split()
        group, used = int(rest[2]), int(rest[11]) + int(rest[12])
        if group == server_group:
            role = "server"
        elif group == worker_group:
            role = "worker-main" if pid == worker_group else "worker-pool"
        elif pid == os.getpid():
            role = "bench"
        elif comm.startswith("postgres"):
            role = "postgres"
        elif comm.startswith("redis-server"):
            role = "redis"
        else:
            continue
        ticks[pid] = (role, used)
    return ticks


def machine_busy_ticks() -> int:
    """Busy clock ticks of the whole machine, all cores (everything but idle and iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def cpu_report(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], busy: int, seconds: float) -> str:
    """CPU used between the two samples by processes alive at the second one, and by everything else on the machine:
    short-lived processes (e.g. a PostgreSQL backend per short database connection) and anything running at the same
    time (a test suite skews the results), plus the kernel's work not charged to a process."""
    used = dict.fromkeys(CPU_ROLES, 0)
    for pid, (role, ticks) in after.items():
        previous = before.get(pid)
        used[role] += ticks - (previous[1] if previous and previous[0] == role else 0)
    hz = os.sysconf("SC_CLK_TCK")
    parts = [f"{role} {100 * used[role] / hz / seconds:.0f}%" for role in CPU_ROLES]
    parts.append(f"everything else {100 * (busy - sum(used.values())) / hz / seconds:.0f}%")
    return f"cpu (100% = one core, {os.cpu_count()} cores): " + ", ".join(parts)


# --- the clients -----------------------------------------------------------------------------------------------------
