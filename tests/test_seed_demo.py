"""`manage.py seed_demo`: the demo `make run` starts with."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from interactions.models import Channel
from routing.models import AgentProfile, Intent, Queue


def test_it_creates_every_kind_of_channel_queues_intents_two_agents_and_a_supervisor(db: None) -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())
    kinds = sorted(Channel.objects.values_list("kind", flat=True))
    assert kinds == sorted(["chat", "email", "sms", "whatsapp", "telegram", "api", "voice"])
    assert set(Queue.objects.values_list("name", flat=True)) == {"Support", "Email", "Phone", "Billing"}
    assert Intent.objects.filter(is_default=True).count() == 1
    roles = dict(AgentProfile.objects.values_list("user__username", "role"))
    assert roles == {"alice": "agent", "bruno": "agent", "sophie": "supervisor"}
    assert get_user_model().objects.get(username="alice").check_password("demo-password")
    chat = Channel.objects.get(kind="chat")
    assert chat.public_key in out.getvalue()
    assert "/widget/demo/" in out.getvalue()
    sms = Channel.objects.get(kind="sms")
    assert f"/hooks/twilio/{sms.uuid}/" in out.getvalue()
    # Secrets are generated but never printed.
    assert sms.secrets["auth_token"] and sms.secrets["auth_token"] not in out.getvalue()
