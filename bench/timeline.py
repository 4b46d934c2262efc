"""timeline: the customer 360° page and its deeper timeline pages on a large CRM data set.

What is measured
    A supervisor (django.test.Client, in process: no HTTP server, so this is the Django + PostgreSQL time) opens
    the 360° page of the big customer of `seed_volume` (10,000 interactions by default): page "first" is
    GET /customers/<id>/, page "deep" is the htmx partial GET /customers/<id>/?before=<id> (header HX-Request)
    continuing from 9,000 interactions deep. If the URL /api/customers/<id>/timeline/ exists, its first page and a
    deep page (?before=) are measured the same way.

Reading a line
    {"bench": "timeline", "target": "page"|"api", "interactions": N, "page": "first"|"deep", "queries": q,
     "requests": n, "p50_ms": …, "p95_ms": …, "max_ms": …}
    - interactions: rows in interactions_interaction (the whole data set, not only the big customer's).
    - queries: SQL queries of one request (session and user included), from CaptureQueriesContext.
    - Percentiles are nearest-rank over `requests` timed requests, after a few unmeasured warm-up requests.

The CRM database is DATABASE_URL with the name replaced by `omnidesk_bench_crm`. It is seeded once with
`manage.py seed_volume --interactions N` (--crm-interactions) and reused by later runs while it holds at least N
interactions; it is migrated on every run.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from bench.environment import configure_logging, migrate
from bench.measures import percentile, rounded
from tests.stack import ROOT

logger = logging.getLogger("bench.timeline")

CRM_DATABASE = "omnidesk_bench_crm"
DEEP = 9_000
WARMUP = 5

Emit = Callable[[dict[str, Any]], None]


def add_crm_arguments(parser: argparse.ArgumentParser) -> None:
    """--crm-interactions and --crm-requests, shared by the timeline and search benchmarks (added once)."""
    if any(action.dest == "crm_interactions" for action in parser._actions):
        return
    group = parser.add_argument_group("timeline and search (CRM data set)")
    group.add_argument("--crm-interactions", type=int, default=1_000_000, help="size of the seeded data set")
    group.add_argument("--crm-requests", type=int, default=100, help="timed requests/calls per measured line")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_crm_arguments(parser)


def crm_database_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"the CRM benchmarks need PostgreSQL; DATABASE_URL is {parts.scheme!r}")
    return urlunsplit(parts._replace(path=f"/{CRM_DATABASE}"))


def _stored_interactions(crm_url: str) -> int:
    try:
        connection = psycopg2.connect(crm_url)
    except psycopg2.OperationalError:
        return -1  # no database yet
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('interactions_interaction') IS NOT NULL")
            row = cursor.fetchone()
            if not row or not row[0]:
                return -1
            cursor.execute("SELECT count(*) FROM interactions_interaction")
            row = cursor.fetchone()
            return int(row[0]) if row else -1
    finally:
        connection.close()


def _recreate(crm_url: str) -> None:
    connection = psycopg2.connect(urlunsplit(urlsplit(crm_url)._replace(path="/postgres")))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{CRM_DATABASE}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{CRM_DATABASE}"')
    finally:
        connection.close()


_prepared: dict[str, int] = {}


def prepare_crm(args: argparse.Namespace) -> int:
    """The seeded CRM database, Django pointed at it; returns the number of interactions it holds."""
    configure_logging(logger)
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    crm_url = crm_database_url(database_url)
    wanted = args.crm_interactions
    if crm_url not in _prepared:
        stored = _stored_interactions(crm_url)
        if stored >= wanted:
            logger.info("CRM data set: reusing %s (%d interactions)", CRM_DATABASE, stored)
            migrate(crm_url, redis_url)
        else:
            logger.info("CRM data set: seeding %s with %d interactions", CRM_DATABASE, wanted)
            _recreate(crm_url)
            migrate(crm_url, redis_url)
            env = {**os.environ, "DATABASE_URL": crm_url, "REDIS_URL": redis_url}
            command = [sys.executable, "manage.py", "seed_volume", "--interactions", str(wanted)]
            command += ["--customers", str(max(1_000, wanted // 20)), "--big-customer", str(min(10_000, wanted // 2))]
            subprocess.run(command, cwd=ROOT, env=env, stdout=sys.stderr, check=True)
            stored = _stored_interactions(crm_url)
        _prepared[crm_url] = stored
    _use_database(crm_url, redis_url)
    return _prepared[crm_url]


def _use_database(crm_url: str, redis_url: str) -> None:
    """Set Django up on the CRM database, or switch an already set up Django (chat_e2e ran first) to it."""
    from django.apps import apps

    if not apps.ready:
        os.environ["DATABASE_URL"] = crm_url
        os.environ["REDIS_URL"] = redis_url
        os.environ["DJANGO_SETTINGS_MODULE"] = "omnidesk.settings"
        import django

        django.setup()
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = CRM_DATABASE


def measure(call: Callable[[], Any], requests: int) -> tuple[list[float], int]:
    """Times of `requests` calls (ms, ascending) after WARMUP untimed ones, and the queries of the last call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        call()
    times = []
    queries = 0
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        queries = len(captured.captured_queries)
    return sorted(times), queries


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    interactions = prepare_crm(args)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import Resolver404, resolve

    from customers.management.commands.seed_volume import BIG_CUSTOMER_EMAIL, SUPERVISOR_USERNAME
    from customers.models import Identity
    from interactions.models import Interaction

    supervisor = get_user_model().objects.get(username=SUPERVISOR_USERNAME)
    customer_id = Identity.objects.get(kind=Identity.Kind.EMAIL, address=BIG_CUSTOMER_EMAIL).customer_id
    history = Interaction.objects.filter(customer_id=customer_id).order_by("-id").values_list("id", flat=True)
    depth = min(DEEP, max(0, history.count() - 60))
    deep_before = history[depth]
    if "testserver" not in settings.ALLOWED_HOSTS:  # django.test.Client's host, allowed by the test runner only
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(supervisor)

    def get(path: str, **headers: str) -> Callable[[], Any]:
        def call() -> None:
            response = client.get(path, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: {response.status_code}")

        return call

    page = f"/customers/{customer_id}/"
    targets = [
        ("page", "first", get(page)),
        ("page", "deep", get(f"{page}?before={deep_before}", **{"HX-Request": "true"})),
    ]
    api = f"/api/customers/{customer_id}/timeline/"
    try:
        resolve(api)
    except Resolver404:
        logger.info("timeline: %s does not resolve; API timeline not measured", api)
    else:
        targets += [("api", "first", get(api)), ("api", "deep", get(f"{api}?before={deep_before}"))]
    for target, which, call in targets:
        times, queries = measure(call, args.crm_requests)
        emit(
            {
                "bench": "timeline",
                "target": target,
                "interactions": interactions,
                "page": which,
                "depth": 0 if which == "first" else depth,
                "queries": queries,
                "requests": len(times),
                "p50_ms": rounded(percentile(times, 50)),
                "p95_ms": rounded(percentile(times, 95)),
                "max_ms": rounded(times[-1]),
            }
        )
