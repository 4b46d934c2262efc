"""The broker's transport (omnidesk/broker.py) through a broker outage, on the real Redis: closing the worker's
connection after kombu closed its transport gives the unacknowledged messages back instead of raising the
AttributeError that made Celery exit the worker (the faults benchmark's `worker_exits`)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis")


def test_it_gives_unacknowledged_messages_back_when_closed_after_its_transport() -> None:
    queue = f"test-broker-{uuid.uuid4().hex}"
    # The worker's transport, as configured (omnidesk.broker:Transport). Any: kombu's stubs lack default_channel.
    transport: Any = settings.CELERY_BROKER_TRANSPORT  # kombu takes a name; its stubs say a Transport instance
    connection: Any = Connection(settings.REDIS_URL, transport=transport)
    try:
        channel = connection.default_channel
        channel.queue_declare(queue=queue, auto_delete=False)
        producer = connection.Producer(channel)
        producer.publish({"task": "x"}, routing_key=queue, serializer="json")
        message = channel.basic_get(queue, no_ack=False)
        assert message is not None
        assert channel.client.llen(queue) == 0  # delivered, not acknowledged

        # What the worker's consumer does when Redis goes away: the transport first, then the connection.
        connection._do_close_transport()
        connection.release()

        check: Any = Connection(settings.REDIS_URL)
        try:
            assert check.default_channel.client.llen(queue) == 1  # given back, not lost until the visibility timeout
        finally:
            check.default_channel.client.delete(queue)
            check.release()
    finally:
        connection.release()
