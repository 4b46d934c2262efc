"""Meta events count only for the channel's own number or page, and refused webhooks cost a bounded number of writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from interactions.messaging.models import SignatureRejection
from interactions.models import Channel, InboundEvent
from routing.models import Queue
from tests import signing
from tests.messaging_support import (
    META_SECRET,
    make_channel,
    messenger_envelope,
    twilio_sms,
    whatsapp_envelope,
    whatsapp_text,
)
from tests.stack import wait_until


def post_meta(channel: Channel, payload: Any) -> Any:
    raw = json.dumps(payload).encode()
    return Client().post(
        f"/hooks/meta/{channel.uuid}/",
        raw,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signing.meta_signature(secret=META_SECRET, body=raw)},
    )


def refused(channel: Channel) -> int:
    return sum(SignatureRejection.objects.filter(channel=channel).values_list("count", flat=True))


def messenger_item(mid: str) -> dict[str, Any]:
    return {"sender": {"id": "PSID-1"}, "recipient": {"id": "page-1"}, "timestamp": 1, "message": {"mid": mid}}


def test_it_refuses_whatsapp_messages_sent_to_another_number_of_the_same_app(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue)
    other_number = whatsapp_envelope(messages=[whatsapp_text("wamid.OTHER")], phone_number_id="1065559999")
    assert post_meta(channel, other_number).status_code == 200  # Meta must not retry it
    assert not InboundEvent.objects.exists()
    assert refused(channel) == 1
    assert SignatureRejection.objects.get(channel=channel).last_reason == "event for another number or page"


def test_it_keeps_its_own_number_s_changes_of_a_mixed_body(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue)
    own = whatsapp_envelope(messages=[whatsapp_text("wamid.OWN")])
    other = whatsapp_envelope(messages=[whatsapp_text("wamid.OTHER")], phone_number_id="1065559999")
    own["entry"][0]["changes"] += other["entry"][0]["changes"]
    assert post_meta(channel, own).status_code == 200
    assert list(InboundEvent.objects.values_list("external_id", flat=True)) == ["wamid.OWN"]
    assert refused(channel) == 1


@pytest.mark.parametrize(
    ("kind", "object_", "account"),
    [
        (Channel.Kind.MESSENGER, "page", "page-of-someone-else"),
        (Channel.Kind.INSTAGRAM, "instagram", "ig-of-someone-else"),
        (Channel.Kind.MESSENGER, "instagram", "page-1"),  # the right id under another object
        (Channel.Kind.INSTAGRAM, "page", "ig-1"),
        (Channel.Kind.WHATSAPP, "page", "page-1"),
    ],
)
def test_it_refuses_messenger_and_instagram_entries_of_another_account(
    support_queue: Queue, kind: str, object_: str, account: str
) -> None:
    channel = make_channel(kind, support_queue)
    assert post_meta(channel, messenger_envelope([messenger_item("m_1")], object_=object_, account=account)).status_code
    assert not InboundEvent.objects.exists()
    assert refused(channel) == 1


@pytest.mark.parametrize(("kind", "object_"), [(Channel.Kind.MESSENGER, "page"), (Channel.Kind.INSTAGRAM, "instagram")])
def test_it_accepts_its_own_page_s_entries(support_queue: Queue, kind: str, object_: str) -> None:
    channel = make_channel(kind, support_queue)
    assert post_meta(channel, messenger_envelope([messenger_item("m_own")], object_=object_)).status_code == 200
    assert InboundEvent.objects.get().external_id == "m_own"
    assert refused(channel) == 0


def test_it_accepts_nothing_on_a_channel_without_its_number_configured(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, phone_number_id="")
    assert post_meta(channel, whatsapp_envelope(messages=[whatsapp_text("wamid.ANY")])).status_code == 200
    assert not InboundEvent.objects.exists()
    assert refused(channel) == 1


def post_forged_sms(channel: Channel, sid: str) -> int:
    return int(
        Client()
        .post(f"/hooks/twilio/{channel.uuid}/", twilio_sms(sid), headers={"X-Twilio-Signature": "forged"})
        .status_code
    )


@override_settings(OMNIDESK_REJECTION_WRITES_PER_MINUTE=3, OMNIDESK_REJECTION_WINDOW_SECONDS=4)
def test_it_caps_the_writes_of_a_flood_of_forgeries_and_keeps_the_count_exact(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    sent = [post_forged_sms(channel, f"SMflood{n}") for n in range(3)]
    with CaptureQueriesContext(connection) as queries:
        sent += [post_forged_sms(channel, f"SMflood{n}") for n in range(3, 20)]
    assert set(sent) == {403}
    assert not [q for q in queries.captured_queries if "signaturerejection" in q["sql"]]  # over budget: no write
    assert refused(channel) == 3
    assert SignatureRejection.objects.filter(channel=channel).count() == 1  # one row per channel, provider and day

    # In the next window the first refusal writes everything held back, so an admin's count stays exact.
    def caught_up() -> bool:
        sent.append(post_forged_sms(channel, f"SMlate{len(sent)}"))
        return refused(channel) == len(sent)

    wait_until(caught_up, timeout=20, interval=0.5, message="the held-back refusals to be written")
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    ("kind", "config", "accepted"),
    [
        ("whatsapp", "{}", False),
        ("whatsapp", '{"phone_number_id": "1065550001"}', True),
        ("whatsapp", '{"provider": "twilio", "from_number": "+33700000001"}', True),  # Twilio signs per URL
        ("messenger", '{"page_id": ""}', False),
        ("messenger", '{"page_id": "page-1"}', True),
        ("instagram", '{"ig_user_id": "ig-1"}', True),
    ],
)
def test_it_asks_the_admin_for_the_meta_account_a_channel_answers_for(
    sophie: Any, support_queue: Queue, kind: str, config: str, accepted: bool
) -> None:
    client = Client()
    client.force_login(sophie)
    form = {"kind": kind, "name": "Meta", "queue": support_queue.pk, "is_active": "on", "config": config}
    answer = client.post("/admin/messaging/messagingchannel/add/", form)
    assert (answer.status_code == 302) is accepted
    if not accepted:
        assert "events for other numbers or pages of the app are refused" in answer.content.decode()


def test_it_never_logs_a_provider_url_holding_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    from interactions.messaging import http
    from tests.messaging_support import running_provider

    token = "123456:telegram-bot-token-in-the-url"
    with running_provider() as provider, caplog.at_level("DEBUG"):  # everything that reaches the handlers
        answer = http.call("POST", f"{provider.url}/bot{token}/sendMessage", provider="Telegram", json={"chat_id": 7})
    assert answer["ok"] is True
    assert provider.sent(r"/sendMessage")  # the request was made (and could have been logged)
    assert token not in caplog.text
