"""Click-to-call: the desk asks a real (local) telephony endpoint to place the call; the call then comes in as CTI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from customers.models import Customer
from interactions.models import Channel, Conversation, Interaction
from interactions.phone import cti
from interactions.phone.models import Call
from routing.models import Queue
from tests import signing
from tests.clients import logged_in
from tests.phone_factories import CARLA_PHONE, CTI_SECRET, give_phone, phone_channel, send_event
from tests.stack import free_port


@dataclass
class Telephony:
    """A PBX's click-to-call endpoint on loopback that records what it is asked to do."""

    url: str
    status: int = 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def telephony() -> Iterator[Telephony]:
    port = free_port()
    recorder = Telephony(url=f"http://127.0.0.1:{port}/originate")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorder.requests.append((dict(self.headers.items()), body))
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield recorder
    finally:
        server.shutdown()


@pytest.fixture
def hotline(support_queue: Queue, telephony: Telephony) -> Channel:
    return phone_channel(support_queue, click_to_call_url=telephony.url)


@pytest.fixture
def carla_on_the_phone(carla: Customer, chat_channel: Channel) -> Customer:
    give_phone(carla)
    # Alice sees Carla through a chat case of her queue.
    Conversation.objects.create(customer=carla, channel=chat_channel, queue=chat_channel.queue)
    return carla


def test_it_asks_the_telephony_endpoint_to_call_the_customer(
    alice: Any, carla_on_the_phone: Customer, hotline: Channel, telephony: Telephony
) -> None:
    response = logged_in("alice").post(
        "/phone/click-to-call/", {"customer": carla_on_the_phone.pk}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 202 and f"Calling {CARLA_PHONE}" in response.content.decode()
    [(headers, body)] = telephony.requests
    request = json.loads(body)
    assert request["to"] == CARLA_PHONE and request["agent"] == "alice" and request["extension"] == "201"
    stamp = headers[cti.TIMESTAMP_HEADER]
    assert headers[cti.SIGNATURE_HEADER] == signing.omnidesk_signature(secret=CTI_SECRET, timestamp=stamp, body=body)
    call = Call.objects.get(call_id=request["call_id"])
    assert call.state == Call.State.REQUESTED and call.agent == alice

    # The PBX then reports the call it placed, under the call id it was given.
    send_event(hotline, "ringing", call.call_id, direction="outbound", to=CARLA_PHONE)
    send_event(hotline, "answered", call.call_id, direction="outbound", to=CARLA_PHONE)
    call = send_event(hotline, "hangup", call.call_id, direction="outbound", to=CARLA_PHONE)
    entry = Interaction.objects.get(kind=Interaction.Kind.CALL)
    assert entry.direction == Interaction.Direction.OUTBOUND and entry.author == alice
    assert entry.customer == carla_on_the_phone and entry.text.startswith("Outbound call · Answered")
    assert call.state == Call.State.WRAP_UP
    assert Conversation.objects.get(calls=call).assignee == alice


def test_it_tells_the_agent_when_the_telephony_endpoint_refuses(
    alice: Any, carla_on_the_phone: Customer, hotline: Channel, telephony: Telephony
) -> None:
    telephony.status = 503
    response = logged_in("alice").post(
        "/phone/click-to-call/", {"customer": carla_on_the_phone.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "did not place the call (HTTP 503)" in response.content.decode()
    assert not Call.objects.exists()


def test_it_offers_the_call_button_only_for_a_customer_with_a_number(
    alice: Any, carla_on_the_phone: Customer, hotline: Channel
) -> None:
    case = Conversation.objects.get(customer=carla_on_the_phone)
    page = logged_in("alice").get(f"/desk/conversations/{case.pk}/").content.decode()
    assert "Call the customer" in page
    carla_on_the_phone.identities.filter(kind="phone").delete()
    page = logged_in("alice").get(f"/desk/conversations/{case.pk}/").content.decode()
    assert "Call the customer" not in page


def test_it_refuses_to_call_through_another_teams_line(
    oscar: Any, carla_on_the_phone: Customer, hotline: Channel, telephony: Telephony
) -> None:
    """Issue 11 changed this test (it was: 404, Oscar could not see Carla): every agent may look Carla up, but a
    call speaks with the channel's number, and Oscar's queues have no phone channel."""
    response = logged_in("oscar").post("/api/click-to-call/", {"customer": carla_on_the_phone.pk})
    assert response.status_code == 400
    assert telephony.requests == []
