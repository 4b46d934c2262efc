"""The hand-written routing statements choose exactly what their ORM twins choose (PostgreSQL only)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from bench.routing import populate
from interactions.models import Conversation, Interaction
from routing import agent_driven, engine, item_driven
from routing.models import AgentProfile, Queue, RoutingItem

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL forms are PostgreSQL's")


def fields(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.fixture
def bench_queue(db: None) -> Queue:
    return populate(agents=20, waiting=300, seed=16)


def test_it_picks_the_same_item_for_a_freed_agent_as_the_orm_form(bench_queue: Queue) -> None:
    compared = 0
    for profile in AgentProfile.objects.all():
        for classes in (["chat", "email"], ["email"], ["voice"], ["chat", "voice", "email"]):
            with transaction.atomic():
                expected = (
                    engine.items_for_agent(profile=profile, classes=classes)
                    .select_related("queue")
                    .select_for_update(skip_locked=True, of=("self",))
                    .first()
                )
                chosen = agent_driven.lock_best_item_for_agent(profile=profile, classes=classes)
                assert (chosen and fields(chosen)) == (expected and fields(expected))
                if chosen is not None and expected is not None:
                    assert fields(chosen.queue) == fields(expected.queue)
                    compared += 1
                transaction.set_rollback(True)
    assert compared > 40


def test_it_locks_the_same_waiting_batches_as_the_orm_form(bench_queue: Queue) -> None:
    compared = 0
    for classes in (["chat"], ["chat", "email", "voice"], ["email", "voice"]):
        after: RoutingItem | None = None
        blocked: list[item_driven.Needs] = []
        blocked_q = Q()
        for _ in range(5):
            with transaction.atomic():
                batch = item_driven.lock_waiting_batch(queue=bench_queue, classes=classes, after=after, blocked=blocked)
                items = engine.waiting_items(queue=bench_queue).filter(capacity_class__in=classes).exclude(blocked_q)
                if after is not None:
                    items = items.filter(engine.after_in_order(after))
                expected = list(items[: engine.SCAN_BATCH])
                transaction.set_rollback(True)
            assert [fields(item) for item in batch] == [fields(item) for item in expected]
            compared += len(batch)
            if not batch:
                break
            for item in batch[:3]:
                if item_driven.needs_of(item) not in blocked:
                    blocked.append(item_driven.needs_of(item))
                blocked_q |= engine.same_needs(item)
            after = batch[-1]
    assert compared > 60


def test_it_returns_the_conversation_as_it_was_before_the_assignment(bench_queue: Queue) -> None:
    item = RoutingItem.objects.filter(state=RoutingItem.State.WAITING).first()
    assert item is not None
    before = Conversation.objects.select_related("customer", "channel").get(pk=item.conversation_id)
    Interaction.objects.create(
        conversation=before,
        customer=before.customer,
        channel=before.channel,
        kind="message",
        direction="in",
        text="Bonjour",
    )
    last = Interaction.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id").values("text")[:1]
    expected = (
        Conversation.objects.annotate(last_text=Subquery(last))
        .select_related("customer", "channel")
        .get(pk=item.conversation_id)
    )
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().first()
        assert profile is not None
        conversation, last_text = engine.record_assignment(
            item=item, profile=profile, source="routed", now=timezone.now()
        )
    assert last_text == "Bonjour"
    assert fields(conversation) == fields(expected)
    assert fields(conversation.customer) == fields(expected.customer)
    assert fields(conversation.channel) == fields(expected.channel)
    assert Conversation.objects.get(pk=item.conversation_id).assignee_id == profile.user_id
    assert RoutingItem.objects.get(pk=item.pk).state == RoutingItem.State.ASSIGNED
