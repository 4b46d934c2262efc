"""Callbacks: a missed call or an API request becomes work, routed when due, retried while unanswered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from customers.models import Customer
from interactions.models import Channel, Conversation, Interaction
from interactions.phone import callbacks
from interactions.phone.models import Callback
from tests.clients import logged_in
from tests.phone_factories import CARLA_PHONE, cti_body, give_phone, send_event, send_live
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.hotline(callback_max_attempts=2, callback_retry_minutes=10)


def missed_call(hotline: Channel, call_id: str = "m-1") -> Callback:
    send_event(hotline, "ringing", call_id, caller=CARLA_PHONE)
    call = send_event(hotline, "hangup", call_id, cause="no_answer")
    return Callback.objects.get(call=call)


def test_it_routes_a_missed_calls_callback_to_an_agent_when_due(alice: Any, carla: Customer, hotline: Channel) -> None:
    give_phone(carla)
    callback = missed_call(hotline)

    routed = callbacks.route_due_callbacks()

    assert [c.pk for c in routed] == [callback.pk]
    callback.refresh_from_db()
    assert callback.status == Callback.Status.ROUTED
    conversation = Conversation.objects.get(callbacks=callback)
    assert conversation.customer == carla and conversation.channel == hotline
    assert conversation.queue == hotline.queue and conversation.assignee == alice
    assert conversation.interactions.get().text == f"Call back {CARLA_PHONE} (attempt 1 of 2)"
    assert callbacks.route_due_callbacks() == [], "a routed callback is not routed twice"


def test_it_retries_an_unanswered_callback_up_to_the_limit(alice: Any, hotline: Channel) -> None:
    callback = missed_call(hotline)
    callbacks.route_due_callbacks()
    callback.refresh_from_db()
    first_case = callback.conversation

    client = logged_in("alice")
    response = client.post(f"/phone/callbacks/{callback.pk}/outcome/", {"outcome": "no_answer"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    callback.refresh_from_db()
    assert callback.status == Callback.Status.SCHEDULED and callback.attempts == 1
    assert callback.next_attempt_at > timezone.now() + timedelta(minutes=9)
    assert Conversation.objects.get(pk=first_case.pk).status == Conversation.Status.RESOLVED  # type: ignore[union-attr]
    assert callbacks.route_due_callbacks() == [], "not due before the retry delay"

    callbacks.route_due_callbacks(now=callback.next_attempt_at + timedelta(seconds=1))
    callback.refresh_from_db()
    assert callback.status == Callback.Status.ROUTED and callback.conversation != first_case
    client.post(f"/phone/callbacks/{callback.pk}/outcome/", {"outcome": "no_answer"}, HTTP_HX_REQUEST="true")
    callback.refresh_from_db()
    assert callback.status == Callback.Status.FAILED and callback.attempts == 2

    history = list(Interaction.objects.filter(customer=callback.customer).order_by("id").values_list("text", flat=True))
    assert history[0].startswith("Inbound call · Missed")
    assert history[1].startswith("Callback scheduled (Missed call)")
    assert history[2:] == [
        f"Call back {CARLA_PHONE} (attempt 1 of 2)",
        history[3],
        f"Call back {CARLA_PHONE} (attempt 2 of 2)",
        "Callback outcome: No answer (attempt 2 of 2)",
    ]
    assert history[3].startswith("Callback outcome: No answer (attempt 1 of 2) — next attempt at")


def test_it_records_a_reached_customer_as_done(alice: Any, hotline: Channel) -> None:
    callback = missed_call(hotline)
    callbacks.route_due_callbacks()
    client = Client()
    client.force_login(alice)
    response = client.post(
        f"/api/callbacks/{callback.pk}/outcome/", {"outcome": "reached"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "done"
    again = client.post(
        f"/api/callbacks/{callback.pk}/outcome/", {"outcome": "reached"}, content_type="application/json"
    )
    assert again.status_code == 400 and again.json()["code"] == "not_routed"


def test_it_lets_the_api_request_a_callback_in_a_window(alice: Any, carla: Customer, hotline: Channel) -> None:
    give_phone(carla)
    start = timezone.now() + timedelta(hours=1)
    response = logged_in("alice").post(
        "/api/callbacks/",
        {
            "number": "06 12 34 56 78",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    callback = Callback.objects.get(pk=response.json()["id"])
    assert callback.customer == carla and callback.reason == Callback.Reason.REQUESTED
    assert callbacks.route_due_callbacks() == [], "not before its window opens"
    assert callbacks.route_due_callbacks(now=start + timedelta(minutes=1)) == [callback]


def test_it_explains_a_bad_callback_request(alice: Any, hotline: Channel) -> None:
    client = logged_in("alice")
    bad_number = client.post("/api/callbacks/", {"number": "12ab"}, content_type="application/json")
    assert bad_number.status_code == 400 and bad_number.json()["code"] == "invalid_phone"
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    bad_window = client.post(
        "/api/callbacks/", {"number": CARLA_PHONE, "window_end": past}, content_type="application/json"
    )
    assert bad_window.status_code == 400 and bad_window.json()["code"] == "bad_window"
    assert not Callback.objects.exists()


def test_it_expires_a_callback_whose_window_passed(alice: Any, hotline: Channel) -> None:
    callback = missed_call(hotline)
    assert callbacks.route_due_callbacks(now=callback.window_end + timedelta(seconds=1)) == []
    callback.refresh_from_db()
    assert callback.status == Callback.Status.EXPIRED


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_it_turns_a_missed_call_into_a_callback_that_the_beat_routes(
    stack: Stack, alice: Any, hotline: Channel
) -> None:
    for body in (
        cti_body("ringing", "m-live", caller=CARLA_PHONE),
        cti_body("hangup", "m-live", cause="abandoned"),
    ):
        assert send_live(stack.base_url, hotline, body).status_code == 202
    wait_until(lambda: Callback.objects.filter(call__call_id="m-live").exists(), timeout=15, message="the callback")
    routed = Callback.objects.filter(call__call_id="m-live", status=Callback.Status.ROUTED)
    # The beat runs the due-callback task every 10 s.
    wait_until(routed.exists, timeout=30, interval=0.25, message="the beat to route the callback")
    conversation = Conversation.objects.get(callbacks__call__call_id="m-live")
    wait_until(lambda: Conversation.objects.filter(pk=conversation.pk, assignee=alice).exists(), timeout=10)
