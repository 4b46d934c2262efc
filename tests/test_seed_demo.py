"""`manage.py seed_demo`: the demo `make run` starts with."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from interactions.models import Channel
from routing.models import AgentProfile, Queue


def test_it_creates_a_channel_a_queue_two_agents_and_a_supervisor(db: None) -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())
    channel = Channel.objects.get()
    assert channel.kind == "chat" and channel.queue == Queue.objects.get()
    roles = dict(AgentProfile.objects.values_list("user__username", "role"))
    assert roles == {"alice": "agent", "bruno": "agent", "sophie": "supervisor"}
    assert get_user_model().objects.get(username="alice").check_password("demo-password")
    assert channel.public_key in out.getvalue()
    assert "/widget/demo/" in out.getvalue()
