"""`route_next` decides in one statement (routing/single_decision.py): the batch of the queue's head, its first
servable item's candidate, the lock and the assignment. It must make the decisions the statement-by-statement walk
makes (`_decide(one_statement=False)`, the batch then a candidate-and-assign statement per servable item) on the same
data: the same items to the same agents in the same order, the same loads, idle order, waiting reasons and events."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from omnidesk import prepared
from routing import rows, services
from routing.models import AgentProfile, AgentSkill, Queue, RoutingItem, Skill
from tests.routing_decisions import benchmark_like_queue, outcome

pytestmark = pytest.mark.django_db


def _decide_all(queue: Queue, *, one_statement: bool) -> int:
    """route_next until it finds nothing, the one way or the other."""
    decided = 0
    while services._decide(queue=queue, savepoint=True, one_statement=one_statement) is not None:
        decided += 1
    return decided


def _kinds(sent: CaptureQueriesContext) -> list[str]:
    """The routing prepared statements sent, by what they are."""
    kinds = []
    for query in sent.captured_queries:
        if not query["sql"].startswith(("EXECUTE routing_", "PREPARE routing_")):
            continue
        text = prepared.statements.get(query["sql"].split()[1].split("(")[0], "")
        if "candidate_skilled" in text:
            kinds.append("one statement")
        elif text.startswith("WITH chosen"):
            kinds.append("candidate and assignment")
        elif text.startswith("WITH agents"):
            kinds.append("batch")
    return kinds


def _with_harder_needs(queue: Queue) -> None:
    """Items near the head whose needs take the walk's other branches: the skill nobody has for the first dozen (a
    first batch with nothing to try), two skills no single agent holds (the batch says "some free agent could",
    the candidate finds nobody, the rest of the batch is tried one by one), the skill nobody has as an optional
    skill (the same failed needs as the required one, other blocked needs), the same once overflowed (wanted:
    none), and a required plus an optional skill."""
    left, right = Skill.objects.create(name="left"), Skill.objects.create(name="right")
    profiles = list(AgentProfile.objects.filter(presence=AgentProfile.Presence.AVAILABLE).order_by("pk"))
    AgentSkill.objects.bulk_create(
        [AgentSkill(agent=p, skill=left, proficiency=3) for p in profiles[5:8]]
        + [AgentSkill(agent=p, skill=right, proficiency=4) for p in profiles[8:11]]
    )
    rare = Skill.objects.get(name="rare").pk
    some, other = Skill.objects.filter(name__in=["skill-0", "skill-1"]).order_by("name").values_list("pk", flat=True)
    head = RoutingItem.objects.filter(queue=queue, state="waiting").order_by(F("rank").desc(), "queued_at", "id")
    for n, item in enumerate(head[:300]):
        if n < 12:
            item.set_skills(required={rare}, optional=set())
        elif n % 9 == 0:
            item.set_skills(required={left.pk, right.pk}, optional=set())
        elif n % 9 == 4:
            item.set_skills(required=set(), optional={rare})
        elif n % 9 == 7:
            item.set_skills(required=set(), optional={rare})
            RoutingItem.objects.filter(pk=item.pk).update(overflowed_at=timezone.now())
        elif n % 17 == 5:
            item.set_skills(required={some}, optional={other})


@pytest.mark.parametrize("harder", [False, True], ids=["benchmark data", "harder needs"])
def test_it_makes_the_decisions_the_statement_by_statement_walk_makes(harder: bool) -> None:
    queue = benchmark_like_queue()
    if harder:
        _with_harder_needs(queue)
    with transaction.atomic(), CaptureQueriesContext(connection) as walked:
        expected_decisions = _decide_all(queue, one_statement=False)
        expected = outcome()
        transaction.set_rollback(True)
    assert expected_decisions > 100

    with CaptureQueriesContext(connection) as sent:
        decisions = _decide_all(queue, one_statement=True)

    assert decisions == expected_decisions
    assert outcome() == expected
    for kind in ("chat", "voice", "email"):
        assert not AgentProfile.objects.filter(**{f"{kind}_load__gt": F(f"{kind}_capacity")}).exists()
    kinds = _kinds(sent)
    assert "batch" not in kinds
    if harder:
        # A target nobody could take: the rest of its batch was tried item by item, as before.
        assert "candidate and assignment" in kinds
        # A batch with nothing to try (the head's first dozen want the skill nobody has): the walk's next batch
        # came in the same statement.
        assert kinds.count("one statement") < _kinds(walked).count("batch")
    else:
        assert "candidate and assignment" not in kinds
        # One statement fewer per decision, at least (the batch and the candidate were two).
        assert len(sent.captured_queries) <= len(walked.captured_queries) - decisions


def test_it_builds_no_model_for_an_item_it_passes_over_whose_reason_is_fresh(monkeypatch: Any) -> None:
    """Per decision: the item given, the agent and user, the conversation, customer and channel. The items of the
    head nobody can take are passed over from their rows unless their reason is stale and is written again."""
    queue = benchmark_like_queue()
    built: list[Any] = []
    from_row = rows.from_row

    def counted(model: Any, row: Any) -> Any:
        built.append(model)
        return from_row(model, row)

    monkeypatch.setattr(rows, "from_row", counted)
    with CaptureQueriesContext(connection) as sent:
        decisions = _decide_all(queue, one_statement=True)
    reasons_written = sum(
        q["sql"].startswith('UPDATE "routing_routingitem" SET "reason"') for q in sent.captured_queries
    )

    assert decisions > 100
    assert reasons_written > 0
    assert len(built) <= 6 * decisions + reasons_written
