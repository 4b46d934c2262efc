"""The lean routing decision keeps its behaviour: the refill of a release happens inside the release's transaction,
the answered event reads the queue's targets as they are now, and the supervisors' figures are never published on
the committing thread (the embedded mode included)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from interactions.models import Channel, Conversation
from interactions.services import resolve_conversation
from omnidesk.models import Event
from reporting.models import IntervalStat, QueueReportingSettings
from routing import deferred, stats
from routing.agents import set_capacity
from routing.models import Assignment, Queue, RoutingItem
from tests.factories import widget_message


def test_it_gives_the_freed_capacity_to_the_next_waiting_item_inside_the_release_transaction(
    alice: Any, chat_channel: Channel, django_capture_on_commit_callbacks: Any
) -> None:
    set_capacity(user=alice, chat=1)
    first = widget_message(chat_channel).conversation
    second = widget_message(chat_channel).conversation
    assert Conversation.objects.get(pk=second.pk).assignee_id is None

    with transaction.atomic():
        with django_capture_on_commit_callbacks(execute=False):
            resolve_conversation(conversation=Conversation.objects.get(pk=first.pk), by=alice)
        # Before any commit hook ran: the refill is part of the resolve's own transaction.
        assert Conversation.objects.get(pk=second.pk).assignee_id == alice.pk
        assert RoutingItem.objects.get(conversation=second).state == RoutingItem.State.ASSIGNED
        transaction.set_rollback(True)

    # Rolled back together: the release and the refill are one unit.
    assert Conversation.objects.get(pk=second.pk).assignee_id is None
    assert Assignment.objects.filter(conversation=first, ended_at__isnull=True).exists()


def _answered_in_target(queue: Queue) -> tuple[int, int]:
    rows = IntervalStat.objects.filter(queue_id=queue.pk)
    return sum(r.answered for r in rows), sum(r.answered_in_target for r in rows)


def test_it_counts_the_answer_against_the_queue_target_as_it_is_at_the_assignment(
    alice: Any, chat_channel: Channel, support_queue: Queue
) -> None:
    settings_row, _created = QueueReportingSettings.objects.get_or_create(queue=support_queue)
    settings_row.service_level_seconds = 0  # any wait misses it
    settings_row.save()
    widget_message(chat_channel)
    assert _answered_in_target(support_queue) == (1, 0)

    settings_row.service_level_seconds = 3600  # changed: the next answer is counted with the new target
    settings_row.save()
    widget_message(chat_channel)
    assert _answered_in_target(support_queue) == (2, 1)


@pytest.fixture
def embedded(settings: Any) -> Iterator[Any]:
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded default: no broker, tasks run in this process
    settings.OMNIDESK_STATS_LIVE = True
    deferred.cancel()
    yield settings
    deferred.cancel()


def test_it_never_publishes_the_supervisor_figures_or_the_wallboard_on_the_committing_thread_when_embedded(
    alice: Any, chat_channel: Channel, embedded: Any, django_capture_on_commit_callbacks: Any
) -> None:
    embedded.OMNIDESK_STATS_INTERVAL = 3600.0  # the scheduled runs stay pending while this test looks
    embedded.OMNIDESK_WALLBOARD_INTERVAL = 3600.0
    # Only this test's events count: another test's own timer thread may have committed figures before it started.
    before = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    with django_capture_on_commit_callbacks(execute=True):
        widget_message(chat_channel)  # enqueued and assigned: the commit asks for the figures

    # An eager task would have published here, in the commit's hooks, before returning.
    assert not Event.objects.filter(type=stats.STATS_EVENT, pk__gt=before).exists()
    # Both the queue figures and the wallboard push wait for their own thread.
    assert deferred.pending() == sorted([stats.STATS_EVENT, "wallboard"])


@pytest.mark.django_db(transaction=True)
def test_it_publishes_the_supervisor_figures_from_its_own_thread_after_the_commit_when_embedded(
    alice: Any, embedded: Any
) -> None:
    embedded.OMNIDESK_STATS_INTERVAL = 0.01
    with transaction.atomic():
        stats.publish_stats_on_commit()

    assert deferred.wait_idle(timeout=30)
    assert Event.objects.filter(type=stats.STATS_EVENT).exists()
