"""The phone tests' setting: a phone channel of the Support team, a signed CTI client, and a caller's number."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.test import Client

from customers.models import Customer, Identity
from interactions import inbound
from interactions.models import Channel, InboundEvent
from interactions.phone.models import Call
from routing.models import Queue
from tests import signing
from tests.stack import wait_until

CTI_SECRET = "cti-secret-for-tests"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
CARLA_PHONE = "+33612345678"


def phone_channel(queue: Queue, **config: Any) -> Channel:
    return Channel.objects.create(
        kind=Channel.Kind.VOICE,
        name="Hotline",
        queue=queue,
        secrets={"cti_secret": CTI_SECRET, "twilio_auth_token": TWILIO_TOKEN},
        config={"extensions": {"201": "alice"}, **config},
    )


def give_phone(customer: Customer, number: str = CARLA_PHONE) -> Customer:
    Identity.objects.create(customer=customer, kind=Identity.Kind.PHONE, address=number)
    return customer


def signed_headers(body: bytes, *, secret: str = CTI_SECRET, timestamp: int | None = None) -> dict[str, str]:
    return signing.omnidesk_headers(secret=secret, body=body, timestamp=timestamp)


def cti_body(
    event: str, call_id: str, at: datetime | None = None, *, caller: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A CTI event's body; `caller` is its "from" number."""
    body: dict[str, Any] = {"event": event, "call_id": call_id, **fields}
    if caller is not None:
        body["from"] = caller
    if at is not None:
        body["at"] = at.isoformat()
    return body


def post_cti(client: Client, channel: Channel, body: dict[str, Any], **sign: Any) -> Any:
    raw = json.dumps(body).encode()
    return client.post(
        f"/hooks/cti/{channel.uuid}/", data=raw, content_type="application/json", headers=signed_headers(raw, **sign)
    )


def send_event(
    channel: Channel, event: str, call_id: str, at: datetime | None = None, *, caller: str | None = None, **fields: Any
) -> Call:
    """Post one signed CTI event to the webhook and process it the way the worker does."""
    response = post_cti(Client(), channel, cti_body(event, call_id, at, caller=caller, **fields))
    assert response.status_code == 202, response.content
    key = response.json()["event"]
    stored = InboundEvent.objects.get(channel=channel, external_id=key)
    inbound.process_inbound_event(event_id=stored.pk)
    # In transactional tests the live worker may have taken it first: wait for its commit.
    wait_until(
        lambda: InboundEvent.objects.filter(pk=stored.pk, processed_at__isnull=False).exists(),
        timeout=15,
        message="the CTI event to be processed",
    )
    return Call.objects.get(channel=channel, call_id=call_id)


def send_live(base_url: str, channel: Channel, body: dict[str, Any]) -> httpx.Response:
    """Post one signed CTI event to the live server (the worker processes it)."""
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **signed_headers(raw)}
    return httpx.post(f"{base_url}/hooks/cti/{channel.uuid}/", content=raw, headers=headers, timeout=10)


def moments(start: datetime, *seconds: int) -> list[datetime]:
    return [start + timedelta(seconds=s) for s in seconds]
