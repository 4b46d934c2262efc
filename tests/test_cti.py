"""The generic CTI webhook and Twilio Voice callbacks: signed, stored once; calls converge to the right state."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from customers.models import Customer
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from interactions.phone import cti
from interactions.phone.models import Call, Callback
from tests import signing
from tests.clients import logged_in
from tests.phone_factories import (
    CARLA_PHONE,
    TWILIO_TOKEN,
    cti_body,
    give_phone,
    moments,
    post_cti,
    send_event,
)


@pytest.fixture
def start() -> Any:
    return timezone.now() - timedelta(minutes=10)


def test_it_stores_a_signed_event_once_however_often_it_is_sent(hotline: Channel) -> None:
    body = cti_body("ringing", "call-1", caller="0612345678", to="0140000000")
    first = post_cti(Client(), hotline, body)
    again = post_cti(Client(), hotline, body)
    assert first.status_code == again.status_code == 202
    assert first.json() == {"stored": True, "event": "call-1:ringing"}
    assert again.json()["stored"] is False
    assert InboundEvent.objects.filter(channel=hotline, provider="cti").count() == 1


@pytest.mark.parametrize(
    ("sign", "reason"),
    [
        ({"secret": "not-the-secret"}, "signature mismatch"),
        ({"timestamp": int(time.time()) - 301}, "outside the replay window"),
    ],
)
def test_it_refuses_a_badly_signed_event_and_stores_nothing(
    hotline: Channel, sign: dict[str, Any], reason: str
) -> None:
    response = post_cti(Client(), hotline, cti_body("ringing", "call-2", caller="0612345678"), **sign)
    assert response.status_code == 403
    assert reason in response.json()["detail"]
    assert not InboundEvent.objects.exists()


def test_it_never_takes_the_secret_from_the_url(hotline: Channel) -> None:
    body = json.dumps(cti_body("ringing", "call-3")).encode()
    response = Client().post(
        f"/hooks/cti/{hotline.uuid}/?secret=cti-secret-for-tests", data=body, content_type="application/json"
    )
    assert response.status_code == 403
    assert "missing" in response.json()["detail"]
    assert not InboundEvent.objects.exists()


def test_it_tells_two_holds_of_one_call_apart_and_recognizes_a_resent_one(hotline: Channel, start: Any) -> None:
    first, second = moments(start, 30, 90)
    for at in (first, second, second):
        post_cti(Client(), hotline, cti_body("hold", "call-5", at))
    post_cti(Client(), hotline, cti_body("hold", "call-5", event_id="h-3"))
    post_cti(Client(), hotline, cti_body("hold", "call-5", event_id="h-3"))
    assert InboundEvent.objects.filter(external_id__startswith="call-5:hold:").count() == 3


def test_it_explains_an_unknown_event(hotline: Channel) -> None:
    response = post_cti(Client(), hotline, cti_body("exploded", "call-4"))
    assert response.status_code == 400
    assert "event" in response.json()["fields"]
    assert not InboundEvent.objects.exists()


def test_it_records_an_answered_call_with_its_timings(
    alice: Any, carla: Customer, hotline: Channel, start: Any
) -> None:
    give_phone(carla)
    ring, answer, hold, resume, hangup = moments(start, 0, 12, 60, 90, 200)
    send_event(hotline, "ringing", "c-10", ring, caller="06 12 34 56 78", agent="alice", intent="billing")
    call = send_event(hotline, "answered", "c-10", answer, agent="alice")
    assert call.state == Call.State.ON_CALL
    assert call.conversation is not None and call.conversation.assignee == alice
    send_event(hotline, "hold", "c-10", hold)
    assert Call.objects.get(pk=call.pk).state == Call.State.ON_HOLD
    send_event(hotline, "resumed", "c-10", resume)
    call = send_event(hotline, "hangup", "c-10", hangup, recording_url="https://pbx.example/rec/c-10.mp3")

    assert call.state == Call.State.WRAP_UP and call.result == Call.Result.ANSWERED
    entry = Interaction.objects.get(kind=Interaction.Kind.CALL)
    assert entry.customer == carla and entry.conversation.channel == hotline
    assert entry.meta["wait_seconds"] == 12
    assert entry.meta["hold_seconds"] == 30
    assert entry.meta["talk_seconds"] == 200 - 12 - 30
    assert entry.meta["result"] == "answered"
    assert entry.meta["recording_url"] == "https://pbx.example/rec/c-10.mp3"
    assert entry.text.startswith("Inbound call · Answered")
    assert call.intent == "billing"


def test_it_records_a_missed_call_and_schedules_its_callback(alice: Any, carla: Customer, hotline: Channel) -> None:
    give_phone(carla)
    send_event(hotline, "ringing", "c-11", caller=CARLA_PHONE)
    call = send_event(hotline, "hangup", "c-11", cause="no_answer")
    assert call.state == Call.State.ENDED and call.result == Call.Result.MISSED
    callback = Callback.objects.get(call=call)
    assert callback.customer == carla and callback.reason == Callback.Reason.MISSED
    assert callback.status == Callback.Status.SCHEDULED
    # The missed call's case is closed: the callback opens its own when it is due.
    assert Conversation.objects.get(calls=call).status == Conversation.Status.RESOLVED


def test_it_tells_abandoned_calls_and_voicemails_apart(alice: Any, hotline: Channel) -> None:
    send_event(hotline, "ringing", "c-12", caller="0611111111")
    abandoned = send_event(hotline, "hangup", "c-12", cause="abandoned")
    send_event(hotline, "ringing", "c-13", caller="0622222222")
    voicemail = send_event(hotline, "hangup", "c-13", cause="voicemail")
    assert abandoned.result == Call.Result.ABANDONED
    assert Callback.objects.get(call=abandoned).reason == Callback.Reason.ABANDONED
    assert voicemail.result == Call.Result.VOICEMAIL
    assert not Callback.objects.filter(call=voicemail).exists()


def test_it_follows_a_transfer_to_another_agent(alice: Any, bruno: Any, hotline: Channel, start: Any) -> None:
    ring, answer, transfer, hangup = moments(start, 0, 5, 40, 100)
    send_event(hotline, "ringing", "c-14", ring, caller="0612345678", extension="201")
    send_event(hotline, "answered", "c-14", answer, extension="201")
    call = send_event(hotline, "transferred", "c-14", transfer, agent="bruno")
    assert call.agent == bruno and call.answered_by == alice
    assert Conversation.objects.get(calls=call).assignee == bruno
    call = send_event(hotline, "hangup", "c-14", hangup)
    assert call.state == Call.State.WRAP_UP and call.agent == bruno
    assert call.interaction is not None and call.interaction.meta["talk_seconds"] == 95


def final_state(channel: Channel, call_id: str, order: list[str], start: Any) -> dict[str, Any]:
    at = dict(zip(["ringing", "answered", "hold", "resumed", "hangup"], moments(start, 0, 8, 30, 45, 120), strict=True))
    fields = {"from": "0612345678", "agent": "alice"}
    for event in order:
        call = send_event(channel, event, call_id, at[event], **fields)
    meta = dict(call.interaction.meta)  # type: ignore[union-attr]
    del meta["call_id"]
    return {"state": call.state, "result": call.result, "meta": meta}


def test_it_ends_in_the_same_state_whatever_the_order_of_events(alice: Any, hotline: Channel, start: Any) -> None:
    in_order = final_state(hotline, "c-20", ["ringing", "answered", "hold", "resumed", "hangup"], start)
    shuffled = final_state(hotline, "c-21", ["hangup", "resumed", "answered", "ringing", "hold"], start)
    assert shuffled == in_order
    assert in_order["state"] == Call.State.WRAP_UP
    assert in_order["meta"]["hold_seconds"] == 15 and in_order["meta"]["wait_seconds"] == 8


def test_it_applies_a_duplicated_event_once(alice: Any, hotline: Channel, start: Any) -> None:
    ring, answer, hangup = moments(start, 0, 4, 60)
    for _ in range(2):
        send_event(hotline, "ringing", "c-22", ring, caller="0612345678", agent="alice")
        send_event(hotline, "answered", "c-22", answer, agent="alice")
    for _ in range(2):
        call = send_event(hotline, "hangup", "c-22", hangup)
    assert Interaction.objects.filter(kind=Interaction.Kind.CALL).count() == 1
    assert Conversation.objects.count() == 1
    assert call.interaction is not None and call.interaction.meta["talk_seconds"] == 56


def test_it_takes_a_hangup_for_an_unknown_call_and_completes_it_later(alice: Any, hotline: Channel) -> None:
    call = send_event(hotline, "hangup", "c-23", cause="abandoned")
    assert call.interaction is None and call.state == Call.State.ENDED
    call = send_event(hotline, "ringing", "c-23", caller="0612345678")
    assert call.state == Call.State.ENDED and call.result == Call.Result.ABANDONED
    assert call.interaction is not None and Callback.objects.filter(call=call).exists()


def test_it_keeps_a_malformed_number_as_an_unknown_caller(alice: Any, hotline: Channel) -> None:
    call = send_event(hotline, "ringing", "c-24", caller="12ab")
    assert call.number == "" and call.raw_number == "12ab"
    assert call.customer is not None and call.caller_was_unknown
    assert not call.customer.identities.exists()
    hung_up = send_event(hotline, "hangup", "c-24")
    assert hung_up.result == Call.Result.MISSED
    assert not Callback.objects.exists(), "a number that cannot be dialled gets no callback"


@pytest.mark.parametrize(
    "number", ["06 12 34 56 78", "+33 6 12 34 56 78", "0033612345678", "+33612345678", "06.12.34.56.78"]
)
def test_it_finds_the_same_customer_for_french_numbers_in_any_format(
    alice: Any, carla: Customer, hotline: Channel, number: str
) -> None:
    give_phone(carla)
    call = send_event(hotline, "ringing", "c-30", caller=number)
    assert call.customer == carla and not call.caller_was_unknown
    assert call.number == CARLA_PHONE


def test_it_joins_a_call_to_the_callers_open_case_on_another_channel(
    alice: Any, carla: Customer, hotline: Channel, chat_channel: Channel
) -> None:
    give_phone(carla)
    chat_case = Conversation.objects.create(
        customer=carla, channel=chat_channel, queue=chat_channel.queue, last_message_at=timezone.now()
    )
    call = send_event(hotline, "ringing", "c-31", caller=CARLA_PHONE, agent="alice")
    assert call.conversation == chat_case, "one case: the call is an entry of the chat's case"
    assert call.interaction is not None and call.interaction.channel == hotline
    assert call.linked_conversation is None, "nothing left to suggest"
    assert Conversation.objects.filter(customer=carla).count() == 1


def test_it_suggests_the_callers_other_open_case_and_the_agent_confirms(
    alice: Any, carla: Customer, hotline: Channel, chat_channel: Channel
) -> None:
    give_phone(carla)
    now = timezone.now()
    older = Conversation.objects.create(
        customer=carla, channel=chat_channel, queue=chat_channel.queue, last_message_at=now - timedelta(hours=2)
    )
    latest = Conversation.objects.create(
        customer=carla, channel=chat_channel, queue=chat_channel.queue, last_message_at=now
    )
    call = send_event(hotline, "ringing", "c-31", caller=CARLA_PHONE, agent="alice")
    assert call.conversation == latest
    assert call.linked_conversation == older and call.link_status == Call.LinkStatus.SUGGESTED
    client = Client()
    client.force_login(alice)
    response = client.post(f"/api/calls/{call.pk}/link/", {"confirm": True}, content_type="application/json")
    assert response.status_code == 200 and response.json()["link_status"] == "confirmed"
    assert Call.objects.get(pk=call.pk).link_decided_by == alice


def twilio_post(client: Client, channel: Channel, params: dict[str, str], token: str = TWILIO_TOKEN) -> Any:
    url = f"http://testserver/hooks/twilio-voice/{channel.uuid}/"
    signature = signing.twilio_signature(token=token, url=url, params=params)
    return client.post(
        f"/hooks/twilio-voice/{channel.uuid}/",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def test_it_accepts_twilio_status_callbacks_with_a_valid_signature(alice: Any, hotline: Channel) -> None:
    from interactions import inbound

    base = {"CallSid": "CA123", "From": "+33612345678", "To": "+33140000000", "Direction": "inbound"}
    for status in ("ringing", "in-progress", "completed", "completed"):
        response = twilio_post(Client(), hotline, {**base, "CallStatus": status})
        assert response.status_code == 204
    events = InboundEvent.objects.filter(provider="twilio_voice").order_by("pk")
    assert list(events.values_list("external_id", flat=True)) == ["CA123:ringing", "CA123:answered", "CA123:hangup"]
    for event in events:
        inbound.process_inbound_event(event_id=event.pk)
    call = Call.objects.get(call_id="CA123")
    assert call.result == Call.Result.ANSWERED and call.number == CARLA_PHONE


def test_it_refuses_a_twilio_callback_with_a_wrong_signature(hotline: Channel) -> None:
    params = {"CallSid": "CA124", "CallStatus": "ringing", "From": "+33612345678"}
    response = twilio_post(Client(), hotline, params, token="wrong")
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_it_documents_the_webhooks_in_the_openapi_schema(alice: Any) -> None:
    schema = logged_in("alice").get("/api/schema/", HTTP_ACCEPT="application/json").json()
    cti_event = schema["paths"]["/hooks/cti/{channel}/"]["post"]
    assert {p["name"] for p in cti_event["parameters"]} >= {cti.TIMESTAMP_HEADER, cti.SIGNATURE_HEADER}
    fields = schema["components"]["schemas"]["CtiEventInput"]["properties"]
    assert {"event", "call_id", "from", "to", "direction", "agent", "extension", "queue", "cause"} <= set(fields)
    assert "/hooks/twilio-voice/{channel}/" in schema["paths"] and "/api/callbacks/" in schema["paths"]
