"""On the real stack (uvicorn, Celery worker, PostgreSQL, Redis): a signed webhook reaches the agent's desk live, and
the agent's reply is delivered by the worker to the provider's API (a local stand-in server)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from interactions import services
from interactions.models import Channel, InboundEvent, Interaction
from routing.models import Queue
from tests import signing
from tests.clients import open_desk
from tests.messaging_support import TWILIO_TOKEN, FakeProvider, make_channel, twilio_sms
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


async def test_it_takes_a_twilio_sms_to_the_agents_desk_and_the_reply_back_to_twilio(
    stack: Stack, alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    desk, _ = await open_desk(stack.ws_url, stack.base_url, user=alice)
    url = f"{stack.base_url}/hooks/twilio/{channel.uuid}/"
    params = twilio_sms("SM-LIVE-1", body="Mon compteur ne marche plus")
    async with httpx.AsyncClient() as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    url,
                    data=params,
                    headers={
                        "X-Twilio-Signature": signing.twilio_signature(token=TWILIO_TOKEN, url=url, params=params)
                    },
                )
                for _ in range(3)
            )
        )
    assert [a.status_code for a in answers] == [200, 200, 200]
    frame = await desk.receive_until("message.created", timeout=30)
    assert frame["data"]["message"]["text"] == "Mon compteur ne marche plus"
    await desk.close()
    assert InboundEvent.objects.filter(channel=channel).count() == 1
    message = Interaction.objects.get(channel=channel)

    reply = services.reply_to_conversation(
        conversation=message.conversation, author=alice, text="On envoie un technicien"
    )
    wait_until(
        lambda: Interaction.objects.get(pk=reply.pk).status == Interaction.Status.SENT, timeout=30, message="the send"
    )
    [request] = provider.sent(r"/Messages\.json")
    assert request.form["Body"] == "On envoie un technicien"
    assert request.headers["i-twilio-idempotency-token"] == reply.idempotency_key
