"""A new case's routing at ingest (`enqueue_conversation`, from `open_conversation`): the item keeps the queue's
and the intent's skills in both forms, the conversation its queue and queue time, in fewer statements
(routing/new_items.py): one read of the skills, one statement for the item, its skill rows and the conversation, no
savepoint."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from interactions.models import Channel, Conversation
from omnidesk import prepared
from routing import services
from routing.models import Intent, Queue, RoutingItem, Skill
from tests.conftest import make_user
from tests.factories import widget_message


def _text(sql: str) -> str:
    """A routing prepared statement's text (omnidesk/prepared.py), else the statement."""
    if sql.startswith(("EXECUTE routing_", "PREPARE routing_")):
        return prepared.statements[sql.split()[1].split("(")[0]]
    return sql


def _spy(monkeypatch: Any) -> list[list[str]]:
    sent: list[list[str]] = []
    enqueue = services.enqueue_conversation

    def spy(**kwargs: Any) -> RoutingItem:
        with CaptureQueriesContext(connection) as captured:
            item = enqueue(**kwargs)
        sent.append([_text(q["sql"]) for q in captured.captured_queries])
        return item

    monkeypatch.setattr("interactions.cases.enqueue_conversation", spy)
    return sent


def test_it_writes_the_new_item_with_the_queue_and_intent_skills(
    support_queue: Queue, chat_channel: Channel, monkeypatch: Any
) -> None:
    french, vip, billing_skill = (Skill.objects.create(name=n) for n in ("French", "VIP", "Billing"))
    support_queue.required_skills.add(french)
    support_queue.optional_skills.add(vip, french)  # required wins over optional
    intent = Intent.objects.create(
        key="billing", name="Billing", keywords=["invoice"], examples=["my invoice is wrong"], priority_boost=3
    )
    intent.required_skills.add(billing_skill)
    sent = _spy(monkeypatch)

    conversation = Conversation.objects.get(pk=widget_message(chat_channel, text="my invoice is wrong").conversation_id)

    item = RoutingItem.objects.get(conversation=conversation)
    assert item.required_skill_ids == sorted([french.pk, billing_skill.pk])
    assert item.optional_skill_ids == [vip.pk]
    assert sorted(item.required_skills.values_list("pk", flat=True)) == sorted([french.pk, billing_skill.pk])
    assert list(item.optional_skills.values_list("pk", flat=True)) == [vip.pk]
    assert item.boost == 3 and item.state == RoutingItem.State.WAITING and item.queue_id == support_queue.pk
    assert conversation.queue_id == support_queue.pk and conversation.queued_at == item.queued_at
    assert conversation.updated_at >= item.queued_at
    # Nobody has the skills: it waits, with its reason.
    assert item.reason
    # The item, its skill rows and the conversation's queue: one statement; the item's skills are not read back.
    (statements,) = sent
    writes = [n for n, sql in enumerate(statements) if "INSERT INTO routing_routingitem " in sql]
    assert len(writes) == 1
    assert "INSERT INTO routing_routingitem_required_skills" in statements[writes[0]]
    assert "UPDATE interactions_conversation SET queue_id" in statements[writes[0]]
    assert not any("routing_routingitem_required_skills" in sql and sql.startswith("SELECT") for sql in statements)
    # Right after the one read of the skills (the intent's stored before it, as it was).
    assert "routing_queue_required_skills" in statements[writes[0] - 1]
    assert "routing_intent_required_skills" in statements[writes[0] - 1]


def test_it_assigns_a_new_case_at_once_in_fewer_statements(
    support_queue: Queue, chat_channel: Channel, monkeypatch: Any
) -> None:
    alice = make_user("alice", queues=[support_queue])
    sent = _spy(monkeypatch)

    conversation = Conversation.objects.get(pk=widget_message(chat_channel).conversation_id)

    assert conversation.assignee_id == alice.pk
    (statements,) = sent
    # Without an intent referential the first text is not read; one read of the queue's skills; no savepoint of
    # routing's own before the item is written.
    writes = [n for n, sql in enumerate(statements) if "INSERT INTO routing_routingitem " in sql]
    assert len(writes) == 1
    assert not any(sql.startswith("SAVEPOINT") for sql in statements[: writes[0]])
    assert not any('"interactions_interaction"."text"' in sql for sql in statements)
    assert sum("routing_queue_required_skills" in sql for sql in statements) == 1
    assert writes[0] == 2  # the intents, the skills, then the item
