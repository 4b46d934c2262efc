"""A sweep may make several routing decisions per transaction (`route_queue(per_transaction=…)`): the same
decisions in the same order as one at a time, each still announced with its own event, sent once the group commits;
and the decision's hand-written statements run as server-side prepared statements without changing the statements
sent per decision."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from interactions.models import Channel, Conversation
from omnidesk import prepared
from omnidesk.models import Event, EventAudience
from routing.models import Queue, RoutingItem
from routing.services import route_next, route_queue
from tests.conftest import make_user
from tests.factories import widget_message


def _waiting(chat_channel: Channel, n: int) -> list[int]:
    """n conversations waiting in the channel's queue (nobody is a member yet), in routing order."""
    ids = [widget_message(chat_channel).conversation_id for _ in range(n)]
    assert not Conversation.objects.filter(pk__in=ids, assignee__isnull=False).exists()
    order = RoutingItem.objects.filter(conversation_id__in=ids).order_by("-rank", "queued_at", "id")
    return list(order.values_list("conversation_id", flat=True))


def test_it_makes_the_same_decisions_in_one_transaction_as_one_at_a_time(
    support_queue: Queue, chat_channel: Channel
) -> None:
    order = _waiting(chat_channel, 5)
    alice = make_user("alice", queues=[support_queue], capacity={"chat": 2})
    bob = make_user("bob", queues=[support_queue], capacity={"chat": 1})
    before = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    assert route_queue(queue=support_queue, per_transaction=10) == 3

    # The three best items went out, the two last still wait, and nobody is over capacity.
    assigned = dict(Conversation.objects.filter(pk__in=order).values_list("pk", "assignee_id"))
    assert [assigned[pk] is not None for pk in order] == [True, True, True, False, False]
    assert sorted(v for v in assigned.values() if v) == sorted([alice.pk, alice.pk, bob.pk])
    # Each assignment has its own event and audience, as when decided one at a time.
    events = Event.objects.filter(pk__gt=before, type="conversation.assigned").order_by("pk")
    assert [e.data["conversation"]["id"] for e in events] == order[:3]
    assert all(EventAudience.objects.filter(event=e).exists() for e in events)


def test_it_assigns_as_route_next_would_when_grouped(support_queue: Queue, chat_channel: Channel) -> None:
    order = _waiting(chat_channel, 4)
    alice = make_user("alice", queues=[support_queue], capacity={"chat": 3})
    make_user("bob", queues=[support_queue], capacity={"chat": 0})

    first = route_next(queue=support_queue)
    assert first is not None and first.conversation_id == order[0]
    assert route_queue(queue=support_queue, per_transaction=2) == 2

    assigned = dict(Conversation.objects.filter(pk__in=order).values_list("pk", "assignee_id"))
    assert [assigned[pk] for pk in order] == [alice.pk, alice.pk, alice.pk, None]


def test_it_sends_each_routing_statement_prepared_in_one_round_trip(
    support_queue: Queue, chat_channel: Channel
) -> None:
    _waiting(chat_channel, 2)
    make_user("alice", queues=[support_queue], capacity={"chat": 3})
    with CaptureQueriesContext(connection) as decision:
        assert route_next(queue=support_queue) is not None

    sent = [q["sql"] for q in decision.captured_queries]
    routing = [sql for sql in sent if sql.startswith(("EXECUTE routing_", "PREPARE routing_"))]
    # The decision's one statement (batch, candidate and assignment: routing/single_decision.py), either executed by
    # name or prepared and executed in the same round trip (a PREPARE never costs a statement of its own), and never
    # sent as plain text.
    assert len(routing) == 1
    assert all("; EXECUTE routing_" in sql for sql in routing if sql.startswith("PREPARE"))
    assert not any(sql.startswith(("WITH agents", "WITH chosen")) for sql in sent)
    assert set(prepared.statements) >= {sql.split()[1].split("(")[0] for sql in routing}
