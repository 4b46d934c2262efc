"""Faults under load (issue 16, item 6): worker processes SIGKILLed mid-batch and Redis restarted lose nothing, double
nothing, make up nothing, and a killed batch is taken back at once, not by the sweeper.

Each test runs a stack of its own (uvicorn + gunicorn, a Celery worker) on the test database with a private
redis-server, so that restarting Redis disturbs nobody else. The sweeper is out of the picture: no beat in the first
test, OMNIDESK_INBOUND_RETRY_AFTER at 600 s in both. PostgreSQL is the machine's shared server here, so it is not
restarted in the suite; `python -m bench --only faults` restarts a private cluster under load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import threading
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from django.db import connection

from bench.environment import create_fixture as create_chat_fixture
from bench.fault_machinery import FaultStack, PrivateRedis, pool_children
from bench.faults import WIDGET_LIMITS, Faults, measure
from bench.webhook_ingest import create_fixture as create_sms_fixture
from interactions.models import Channel, InboundEvent, Interaction
from tests.clients import open_widget, send_widget_message
from tests.stack import Stack, wait_until

pytestmark = [
    pytest.mark.stack,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("session_worker_paused"),
]
ORIGIN = "http://shop.example"
NO_SWEEPER = {"OMNIDESK_INBOUND_RETRY_AFTER": "600", "LOG_LEVEL": "WARNING"}


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def blocked_backends() -> int:
    with psycopg2.connect(database_url()) as probe, probe.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


async def test_it_takes_back_every_event_of_a_batch_whose_worker_was_killed_without_the_sweeper(
    private_redis: PrivateRedis, alice: Any, chat_channel: Channel
) -> None:
    stack = Stack(
        database_url=database_url(), redis_url=private_redis.url, worker_concurrency=1, extra_env=NO_SWEEPER
    ).start()
    try:
        first_socket, _welcome = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
        first = await send_widget_message(first_socket, "Hello")
        wait_until(lambda: Interaction.objects.filter(external_id=first).exists(), timeout=30, message="first")
        customer_id = Interaction.objects.get(external_id=first).customer_id

        # With the worker stopped, store one more message of that customer and five of others: the next worker's
        # first task claims all six in one batch, and blocks on the customer's row, which this test holds.
        stack._stop(stack.worker)
        stack.worker = None
        holder = psycopg2.connect(database_url())
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM customers_customer WHERE id = %s FOR UPDATE", [customer_id])
        batch = [await send_widget_message(first_socket, "Blocked behind its customer's lock")]
        for n in range(5):
            socket, _welcome = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
            batch.append(await send_widget_message(socket, f"Visitor {n}"))
            await socket.receive_until("message.accepted")
            await socket.close()
        wait_until(lambda: InboundEvent.objects.filter(external_id__in=batch).count() == 6, timeout=15, message="6")

        stack.start_worker()
        wait_until(blocked_backends, timeout=30, message="the worker to block mid-batch")
        assert set(InboundEvent.objects.filter(external_id__in=batch).values_list("attempts", flat=True)) == {1}
        assert stack.worker is not None
        (child,) = pool_children(stack.worker.pid)
        os.kill(child, signal.SIGKILL)
        # The dead child's backend waits on the lock; once it gets it, it finds its client gone and rolls back.
        threading.Timer(0.5, holder.rollback).start()

        wait_until(
            lambda: Interaction.objects.filter(external_id__in=batch).count() == 6,
            timeout=30,
            message="the redelivered task to take back its whole batch (the sweeper would wait 600 s)",
        )
        await first_socket.close()
        holder.close()
    finally:
        stack.stop()

    events = InboundEvent.objects.filter(external_id__in=batch)
    assert all(event.processed_at is not None for event in events)
    assert sorted(event.attempts for event in events) == [2] * 6, "each taken back once, by the redelivered task"
    assert [Interaction.objects.filter(external_id=u).count() for u in batch] == [1] * 6


def test_it_loses_doubles_and_invents_nothing_while_workers_are_killed_and_redis_restarts(
    private_redis: PrivateRedis, db: None
) -> None:
    sms = create_sms_fixture()
    chat = create_chat_fixture()
    chat_channel_id = Channel.objects.get(public_key=chat.channel_key).pk
    stack = FaultStack(
        database_url=database_url(),
        redis_url=private_redis.url,
        worker_concurrency=2,
        web_workers=1,
        extra_env={**NO_SWEEPER, **dict.fromkeys(WIDGET_LIMITS, "100000")},
    )
    args = argparse.Namespace(
        faults_seconds=16.0,
        faults_webhook_rate=10.0,
        faults_chat_rate=5.0,
        faults_visitors=3,
        faults_child_kills=4,
        faults_main_kills=1,
        faults_redis_restarts=1,
        faults_postgres_restarts=0,
        faults_drain_timeout=120.0,
    )
    stack.start(timeout=90)
    try:
        faults = Faults(stack, private_redis, None, database_url(), random.Random(16))
        result = asyncio.run(measure(faults, sms, chat.channel_key, chat_channel_id, args))
    finally:
        stack.stop()

    print(result)  # the benchmark's line, for the log of a failure
    # At least the nominal load; more when the faults outlast it (the load goes on until they are over).
    assert result["webhooks_accepted"] == result["webhooks_sent"] >= 160
    assert result["chats_accepted"] == result["chats_sent"] >= 80
    assert result["child_kills"] == 4 and result["main_kills"] == 1 and result["redis_restarts"] == 1
    ledger = {key: result[key] for key in ("missing", "duplicated", "phantom", "pending", "dead_lettered")}
    assert ledger == {"missing": 0, "duplicated": 0, "phantom": 0, "pending": 0, "dead_lettered": 0}
    assert result["killed_batch_events"] > 0 and result["recoveries_unfinished"] == 0
    # Every event claimed when a worker was killed got processed: the sweeper (600 s) cannot have been the one.
    assert result["drained_s"] < 120
