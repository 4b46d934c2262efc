"""The screen pop's reads: each agent sees the caller's history exactly as interactions/access.py allows (notes they
may not see left out, a confidential queue's entries as metadata), and a ringing costs a bounded number of
statements however long that history is; a later event's call comes with its users without joining them
(docs/performance-screenpop.md)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from interactions import access, inbound
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from interactions.phone import screen_pop
from interactions.phone.call_lock import lock_call
from interactions.phone.models import Call
from routing.models import Queue
from tests.conftest import make_user
from tests.phone_factories import cti_body, give_phone, post_cti, send_event

pytestmark = pytest.mark.django_db

# A ringing of a known caller who has an open chat case (the call joins it), popped to the rung agent: 19 today,
# the task's claim included.
# A bound, not the count: it fails when a change adds statements per ringing, not when one saves some.
RINGING_STATEMENTS = 20
# The pop itself: the history (one statement), the viewer's queues (access.redact), identities, open cases.
POP_STATEMENTS = 4


def entry(case: Conversation, text: str, **fields: Any) -> Interaction:
    fields.setdefault("direction", Interaction.Direction.INBOUND)
    return Interaction.objects.create(
        conversation=case, customer=case.customer, channel=case.channel, text=text, **fields
    )


@pytest.fixture
def carla_everywhere(
    carla: Customer, chat_channel: Channel, fraud_queue: Queue, billing_queue: Queue, hotline: Channel
) -> Customer:
    """Carla chatted with Support, wrote to the confidential Fraud team (which left itself a note), and called
    Billing, whose agent kept call notes."""
    give_phone(carla)
    chat = Conversation.objects.create(customer=carla, channel=chat_channel, queue=chat_channel.queue)
    entry(chat, "Ma facture est fausse")
    mail = Channel.objects.create(kind=Channel.Kind.EMAIL, name="Fraud desk", queue=fraud_queue)
    fraud = Conversation.objects.create(customer=carla, channel=mail, queue=fraud_queue)
    entry(fraud, "Someone used my card")
    entry(fraud, "Checked with the bank", kind=Interaction.Kind.NOTE, direction="out")
    phone = Conversation.objects.create(customer=carla, channel=hotline, queue=billing_queue)
    entry(phone, "Inbound call · Answered", kind=Interaction.Kind.CALL, meta={"notes": "wants a refund"})
    return carla


def history_as_before(agent: Any, customer: Customer) -> list[tuple[int, str, str, bool]]:
    """The history as the pop built it before it read rows only: whole entries through access.redact."""
    visible = access.interactions_visible_to(agent, Interaction.objects.filter(customer=customer))
    newest = {}
    for row in visible.order_by("id").select_related("channel"):
        newest[row.channel.kind] = row.pk
    rows = Interaction.objects.filter(pk__in=newest.values()).select_related("channel", "conversation__queue")
    return [
        (row.pk, row.channel.get_kind_display(), row.text[:140], bool(row.redacted))  # type: ignore[attr-defined]
        for row in sorted(access.redact(agent, rows), key=lambda row: -row.pk)
    ]


def shown(history: list[screen_pop.PopInteraction]) -> list[tuple[int, str, str, bool]]:
    return [(item["id"], item["channel"], item["text"], item["redacted"]) for item in history]


def test_it_shows_each_agent_the_history_the_access_rule_allows(
    alice: Any, fiona: Any, oscar: Any, carla_everywhere: Customer
) -> None:
    for agent in (alice, fiona, oscar):
        assert shown(screen_pop.last_interactions(carla_everywhere, agent=agent)) == history_as_before(
            agent, carla_everywhere
        ), agent.username

    alices = shown(screen_pop.last_interactions(carla_everywhere, agent=alice))
    assert [(channel, text, redacted) for _pk, channel, text, redacted in alices] == [
        ("Phone", "Inbound call · Answered", False),
        ("Email", "", True),  # the Fraud team's case: metadata only, and its note is not even listed
        ("Website chat", "Ma facture est fausse", False),
    ]
    fionas = shown(screen_pop.last_interactions(carla_everywhere, agent=fiona))
    assert ("Email", "Checked with the bank", False) in [(c, t, r) for _pk, c, t, r in fionas]


def test_it_reads_the_pop_in_a_bounded_number_of_statements_whatever_the_history(
    alice: Any, carla_everywhere: Customer, hotline: Channel, chat_channel: Channel
) -> None:
    call = Call.objects.create(channel=hotline, call_id="reads-1", number="+33612345678", customer=carla_everywhere)

    with CaptureQueriesContext(connection) as captured:
        pop = screen_pop.pop_for(call, agent=alice)
    assert len(captured) <= POP_STATEMENTS, [query["sql"] for query in captured.captured_queries]
    assert pop["customer"]["identities"] == [
        {"kind": "Phone", "address": "+33612345678"},
        {"kind": "Website visitor", "address": "carla-visitor"},
    ]
    # The Fraud team's case is confidential for Alice: she may not open it, so it is not among her open cases.
    assert [case["channel"] for case in pop["open_cases"]] == ["Phone", "Website chat"]

    more = Conversation.objects.create(customer=carla_everywhere, channel=chat_channel, queue=chat_channel.queue)
    for number in range(20):
        entry(more, f"Message {number}")
    with CaptureQueriesContext(connection) as longer:
        screen_pop.pop_for(call, agent=alice)
    assert len(longer) == len(captured), "no statement per entry or per case"


def store_ringing(channel: Channel, call_id: str, **fields: Any) -> InboundEvent:
    response = post_cti(Client(), channel, cti_body("ringing", call_id, caller="06 12 34 56 78", **fields))
    assert response.status_code == 202, response.content
    return InboundEvent.objects.get(channel=channel, external_id=response.json()["event"])


def process(event: InboundEvent) -> list[str]:
    """The statements the worker's task sends for `event` (claim included), without the savepoints that only the
    test's enclosing transaction makes of its transactions."""
    with CaptureQueriesContext(connection) as captured:
        inbound.process_inbound_event(event_id=event.pk, channel_id=event.channel_id, kind=Channel.Kind.VOICE)
    assert InboundEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists()
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def test_it_pops_a_known_caller_in_a_bounded_number_of_statements(
    alice: Any, carla: Customer, chat_channel: Channel, hotline: Channel
) -> None:
    give_phone(carla)
    case = Conversation.objects.create(customer=carla, channel=chat_channel, queue=chat_channel.queue)
    for number in range(20):
        entry(case, f"Message {number}")

    sent = process(store_ringing(hotline, "reads-2", agent="alice"))

    call = Call.objects.get(channel=hotline, call_id="reads-2")
    assert call.popped_to == [alice.pk] and call.conversation_id == case.pk
    assert len(sent) <= RINGING_STATEMENTS, [sql[:120] for sql in sent]


def test_it_pops_the_queues_agents_without_a_profile_read_per_agent(
    alice: Any, bruno: Any, carla: Customer, chat_channel: Channel, hotline: Channel
) -> None:
    give_phone(carla)
    Conversation.objects.create(customer=carla, channel=chat_channel, queue=chat_channel.queue)
    entry(Conversation.objects.get(customer=carla), "Bonjour")

    sent = process(store_ringing(hotline, "reads-3"))

    call = Call.objects.get(channel=hotline, call_id="reads-3")
    assert sorted(call.popped_to) == sorted([alice.pk, bruno.pk])
    assert not [sql for sql in sent if sql.startswith('SELECT "routing_agentprofile"')], "agents come with profiles"
    assert len(sent) <= RINGING_STATEMENTS + POP_STATEMENTS, [sql[:120] for sql in sent]


def test_it_locks_a_later_events_call_with_its_users_in_one_statement_without_joining_them(
    alice: Any, hotline: Channel
) -> None:
    rung = send_event(hotline, "ringing", "reads-4", caller="06 12 34 56 78", agent="alice")
    alice.last_login = timezone.now()
    alice.save(update_fields=["last_login"])

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        call = lock_call(channel=hotline, call_id="reads-4", expect_new=False, direction="in")
        target, agent = call.target_agent, call.agent

    [sql] = [query["sql"] for query in captured.captured_queries]
    assert call.pk == rung.pk and 'JOIN "auth_user"' not in sql, "the users are subqueries, not joins"
    stored = get_user_model().objects.get(pk=alice.pk)
    for user in (target, agent):
        assert user is not None and user._state.adding is False
        assert {f.attname: getattr(user, f.attname) for f in user._meta.concrete_fields} == {
            f.attname: getattr(stored, f.attname) for f in stored._meta.concrete_fields
        }


def test_it_reads_the_caller_once_for_all_the_agents_a_queue_pop_reaches(
    alice: Any, bruno: Any, support_queue: Queue, carla: Customer, chat_channel: Channel, hotline: Channel
) -> None:
    chloe = make_user("chloe", queues=[support_queue])
    give_phone(carla)

    sent = process(store_ringing(hotline, "reads-5"))

    call = Call.objects.get(channel=hotline, call_id="reads-5")
    assert sorted(call.popped_to) == sorted([alice.pk, bruno.pk, chloe.pk])
    identities = [sql for sql in sent if sql.startswith('SELECT "customers_identity"."kind"')]
    assert len(identities) == 1, "who is calling does not depend on the agent"
