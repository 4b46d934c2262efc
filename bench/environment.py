"""The benchmark's environment: a scratch database, a clean Redis database, Django, and the people and channel."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis

from tests.stack import ROOT

BENCH_DATABASE = "omnidesk_bench"
# A third-party website embedding the widget; the channel allows exactly this origin.
WIDGET_ORIGIN = "https://shop.bench.test"

# --- environment: database, Redis, Django ----------------------------------------------------------------------------


def fresh_database(database_url: str, name: str, *, bench: str) -> str:
    """Drop and re-create the scratch database `name` on the PostgreSQL server of `database_url`; its URL.

    Every benchmark works on a database of its own, so that no run sees another's rows (or the tests').
    `BENCH_DATABASE_SUFFIX` (optional) is appended to the name, so two checkouts can benchmark side by side.
    """
    if suffix := os.environ.get("BENCH_DATABASE_SUFFIX", ""):
        name = f"{name}_{suffix}"
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"{bench} needs PostgreSQL; DATABASE_URL is {parts.scheme!r}")
    connection = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


def flush_redis(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def migrate(database_url: str, redis_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "omnidesk.settings",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout)
        raise RuntimeError(f"manage.py migrate failed with {result.returncode}")


def setup_django(database_url: str, redis_url: str) -> None:
    """Set Django up on `database_url`, or, when an earlier benchmark of this run already did, switch it there.

    Every benchmark has its own database; `make bench` runs them all in one process.
    """
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()
        connections["default"].settings_dict["NAME"] = urlsplit(database_url).path.lstrip("/")
        return
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "omnidesk.settings"
    # Like the servers the benchmarks start (tests/stack.py): DEBUG would log every SQL statement in memory, which
    # no live system pays for.
    os.environ["DEBUG"] = "false"
    import django

    django.setup()


@dataclass(frozen=True)
class Fixture:
    channel_key: str
    cookie: str
    agent_id: int


def create_fixture() -> Fixture:
    """A queue, a chat channel routed to it and an available agent, member of the queue, with room for every chat."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    from interactions.models import Channel
    from routing.models import AgentProfile, Queue

    queue = Queue.objects.create(name="Bench")
    channel = Channel.objects.create(
        kind=Channel.Kind.CHAT, name="Bench chat", queue=queue, allowed_origins=[WIDGET_ORIGIN]
    )
    agent = get_user_model().objects.create_user(username="bench-agent", first_name="Bench")
    AgentProfile.objects.update_or_create(
        user=agent,
        defaults={
            "role": AgentProfile.Role.AGENT,
            "presence": AgentProfile.Presence.AVAILABLE,
            "chat_capacity": 30_000,
        },
    )
    queue.members.add(agent)
    client = Client()
    client.force_login(agent)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    connections.close_all()
    return Fixture(channel_key=channel.public_key, cookie=cookie, agent_id=agent.pk)


def configure_logging(logger: logging.Logger) -> None:
    """Progress on stderr: stdout carries only the JSON result lines."""
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
