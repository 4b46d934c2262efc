"""Nothing is lost: a dropped agent socket catches up, a killed worker's message is still delivered once."""

from __future__ import annotations

import threading
from typing import Any

import psycopg2
import pytest
from django.conf import settings

from interactions.models import Channel, InboundEvent, Interaction
from tests.clients import open_desk, open_widget, send_widget_message
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
ORIGIN = "http://shop.example"


def message_ids(frames: list[dict[str, Any]]) -> list[int]:
    return [f["data"]["message"]["id"] for f in frames if f["type"] == "message.created"]


async def test_it_replays_messages_that_arrived_while_the_agents_socket_was_down(
    stack: Stack, alice: Any, chat_channel: Channel
) -> None:
    desk, welcome = await open_desk(stack.ws_url, stack.base_url, user=alice)
    cursor = welcome["last_event_id"]
    await desk.close()

    widget, _ = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
    sent = [await send_widget_message(widget, f"Message {n}") for n in range(3)]
    for _ in sent:
        await widget.receive_until("message.accepted")
    wait_until(lambda: Interaction.objects.filter(external_id__in=sent).count() == 3, timeout=15, message="3 stored")

    desk, _ = await open_desk(stack.ws_url, stack.base_url, user=alice, last_event_id=cursor)
    frames = await desk.collect(duration=1.5)
    await desk.close()
    await widget.close()

    delivered = message_ids(frames)
    expected = list(Interaction.objects.filter(external_id__in=sent).order_by("id").values_list("id", flat=True))
    assert delivered == expected
    assert len({f["id"] for f in frames}) == len(frames), "an event was delivered twice"


async def test_it_delivers_live_messages_once_to_a_connected_agent(
    stack: Stack, alice: Any, chat_channel: Channel
) -> None:
    desk, _ = await open_desk(stack.ws_url, stack.base_url, user=alice)
    widget, _ = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
    sent = [await send_widget_message(widget, f"Live {n}") for n in range(3)]
    uuids: list[str] = []
    while len(uuids) < len(sent):
        frame = await desk.receive_until("message.created", timeout=15)
        uuids.append(frame["data"]["message"]["uuid"])
    later = await desk.collect(duration=1)
    await desk.close()
    await widget.close()
    assert sorted(uuids) == sorted(sent)
    assert not [f for f in later if f["type"] == "message.created"], "a message was delivered twice"


def blocked_backends(database: str) -> int:
    with psycopg2.connect(dbname=database, host="127.0.0.1", user="postgres") as probe, probe.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [database]
        )
        return int(cursor.fetchone()[0])


async def test_it_recovers_a_message_whose_worker_was_killed_mid_task(
    stack: Stack, alice: Any, chat_channel: Channel
) -> None:
    desk, _ = await open_desk(stack.ws_url, stack.base_url, user=alice)
    widget, _ = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
    first = await send_widget_message(widget, "First message")
    wait_until(lambda: Interaction.objects.filter(external_id=first).exists(), timeout=15, message="first stored")
    customer_id = Interaction.objects.get(external_id=first).customer_id

    # Hold the customer's row lock so that the worker blocks inside its transaction on the next message.
    database = str(settings.DATABASES["default"]["NAME"])
    holder = psycopg2.connect(dbname=database, host="127.0.0.1", user="postgres")
    holder.autocommit = False
    with holder.cursor() as cursor:
        cursor.execute("SELECT id FROM customers_customer WHERE id = %s FOR UPDATE", [customer_id])
    second = await send_widget_message(widget, "Second message, during the crash")
    await widget.receive_until("message.accepted")
    await widget.receive_until("message.accepted")
    try:
        wait_until(lambda: blocked_backends(database) >= 1, timeout=15, message="the worker to block mid-task")
        stack.kill_worker()
    finally:
        # Release the lock on another thread after a moment, so the dead worker's transaction is rolled back.
        threading.Timer(0.5, holder.rollback).start()

    assert not Interaction.objects.filter(external_id=second).exists()
    stack.start_worker()
    wait_until(
        lambda: Interaction.objects.filter(external_id=second).exists(),
        timeout=40,
        message="the restarted worker to recover the message",
    )
    frames = await desk.collect(duration=2)
    await desk.close()
    await widget.close()
    holder.close()

    assert Interaction.objects.filter(external_id=second).count() == 1
    event = InboundEvent.objects.get(external_id=second)
    assert event.processed_at is not None and event.attempts >= 2
    delivered = [f["data"]["message"]["uuid"] for f in frames if f["type"] == "message.created"]
    assert delivered.count(second) == 1
    assert stack.worker is not None and stack.worker.poll() is None
