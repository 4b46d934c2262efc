"""The phone channel's hot reads compiled once (omnidesk/compiled_queries.py): the rung agent, the caller's open case
on another channel, the caller's identities and a later event's locked call answer exactly as their querysets do,
and a call after the first compiles none of them again (docs/performance-screenpop.md)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import models, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.test import Client

from customers.models import Customer, Identity
from interactions import inbound
from interactions.models import Channel, Conversation, InboundEvent
from interactions.phone import call_lock, screen_pop, services
from interactions.phone.models import Call
from omnidesk import compiled_queries
from routing.models import AgentProfile
from tests.conftest import make_user
from tests.phone_factories import cti_body, give_phone, post_cti, send_event

pytestmark = pytest.mark.django_db


def fields_of(instance: models.Model | None) -> dict[str, Any] | None:
    if instance is None:
        return None
    return {
        f.attname: f.value_from_object(instance) for f in instance._meta.concrete_fields if f.attname in vars(instance)
    }


def agent_read(user: Any) -> tuple[Any, Any]:
    return fields_of(user), fields_of(getattr(user, "agent_profile", None))


def case_read(case: Conversation) -> tuple[Any, Any]:
    return fields_of(case), fields_of(case.channel)


def call_read(call: Call) -> tuple[Any, ...]:
    call = call_lock.with_users(call)
    return (
        fields_of(call),
        fields_of(call.channel),
        fields_of(call.channel.queue),
        fields_of(call.customer),
        fields_of(call.interaction),
        fields_of(call.conversation),
        fields_of(call.target_agent),
        fields_of(call.agent),
    )


def same_as_queryset(build: Any, read: Any, **arguments: Any) -> list[Any]:
    """What `build(**arguments)` reads, checked equal through the compiled path, compiled and then cached."""
    expected = [read(row) for row in build(**arguments)]
    for _ in range(2):
        assert [read(row) for row in compiled_queries.fetch(build, **arguments)] == expected, build.__name__
    return expected


def test_it_reads_the_agent_the_link_the_identities_and_the_lock_as_their_querysets_do(
    alice: Any, sophie: Any, carla: Customer, chat_channel: Channel, hotline: Channel
) -> None:
    give_phone(carla)
    gone = make_user("gone")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    chat = Conversation.objects.create(customer=carla, channel=chat_channel, queue=chat_channel.queue)
    Conversation.objects.create(customer=carla, channel=chat_channel, status=Conversation.Status.RESOLVED)
    send_event(hotline, "ringing", "compiled-1", caller="06 12 34 56 78", agent="alice")
    call = Call.objects.get(call_id="compiled-1")
    assert call.conversation_id == chat.pk and call.linked_conversation_id is None, "joined the chat: no other case"

    with transaction.atomic():
        for username in ("alice", "sophie", "gone", "nobody"):
            same_as_queryset(services.agent_named, agent_read, username=username)
        [(_alice, profile)] = same_as_queryset(services.agent_named, agent_read, username="alice")
        assert profile is not None and profile["role"] == AgentProfile.Role.AGENT
        assert same_as_queryset(services.agent_named, agent_read, username="gone") == []

        [(case, channel)] = same_as_queryset(services.open_case_of, case_read, customer_id=carla.pk)
        assert case is not None and channel is not None
        assert case["id"] == chat.pk and channel["kind"] == Channel.Kind.CHAT
        assert same_as_queryset(services.other_open_case_of, case_read, customer_id=carla.pk, but=chat.pk) == []

        rows = same_as_queryset(screen_pop.identity_rows, tuple, customer_id=carla.pk)
        assert rows == [(Identity.Kind.PHONE, "+33612345678"), (Identity.Kind.WIDGET, "carla-visitor")]

        [locked] = same_as_queryset(call_lock.locked_call, call_read, channel_id=hotline.pk, call_id="compiled-1")
        assert locked[6] is not None and locked[6]["username"] == "alice", "the target agent, from its JSON row"
        assert same_as_queryset(call_lock.locked_call, call_read, channel_id=hotline.pk, call_id="other") == []


def phone_compiles(run: Any) -> Counter[str]:
    """The SELECTs `run` compiles from the phone channel's own code, by the function that built them (the nearest
    frame of interactions/phone/ not below another module of the project, so a lazy read in an announcement the
    phone calls is not counted)."""
    compiled: Counter[str] = Counter()
    as_sql = SQLCompiler.as_sql
    root = str(Path(__file__).resolve().parent.parent)

    def counting(compiler: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(root) and "site-packages" not in name and not name.endswith("compiled_queries.py"):
                if "/interactions/phone/" in name:
                    compiled[frame.f_code.co_name] += 1
                break
            frame = frame.f_back  # type: ignore[assignment]
        return as_sql(compiler, *args, **kwargs)

    with mock.patch.object(SQLCompiler, "as_sql", counting):
        run()
    return compiled


def test_it_compiles_none_of_these_reads_again_for_the_next_call(
    alice: Any, carla: Customer, chat_channel: Channel, hotline: Channel
) -> None:
    give_phone(carla)
    Conversation.objects.create(customer=carla, channel=chat_channel, queue=chat_channel.queue)

    def call(call_id: str) -> None:
        fields: dict[str, dict[str, Any]] = {"ringing": {"agent": "alice"}, "hangup": {"cause": "answered_elsewhere"}}
        for event in ("ringing", "hangup"):
            body = cti_body(event, call_id, caller="06 12 34 56 78", **fields[event])
            key = post_cti(Client(), hotline, body).json()["event"]
            stored = InboundEvent.objects.get(channel=hotline, external_id=key)
            inbound.process_inbound_event(event_id=stored.pk, channel_id=hotline.pk, kind=Channel.Kind.VOICE)

    call("compiled-2")  # compiles them, unless an earlier test of this process did
    second = phone_compiles(lambda: call("compiled-3"))

    for function in ("find_agent", "link_to_open_case", "caller_of", "lock_call"):
        assert second[function] == 0, second
    ended = Call.objects.get(call_id="compiled-3")
    assert ended.popped_to == [alice.pk] and ended.state == Call.State.ENDED
