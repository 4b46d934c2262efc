"""The periodic part of routing: offer timeouts, overflow, presence timeout, and a re-route of every queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from routing import offers, stats
from routing.models import AgentProfile, Queue, RoutingItem
from routing.services import move_to_queue, route_item, route_queue, set_presence

OFFLINE_AFTER = timedelta(seconds=60)
# Decisions per transaction in the sweep: a group's chosen agents stay locked until it commits (rivals skip them, an
# agent-driven refill of one waits), so a group stays short (~20 × 3–4 ms measured on the routing benchmark).
SWEEP_GROUP = 20


def offline_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "OMNIDESK_PRESENCE_TIMEOUT_SECONDS", 60))


def sweep_presence(*, now: Any = None) -> int:
    """Agents whose desk sockets have all been gone for the timeout become offline (their items go back)."""
    now = now or timezone.now()
    gone = AgentProfile.objects.filter(
        socket_count=0, last_seen_at__lt=now - offline_after(), last_seen_at__isnull=False
    ).exclude(presence=AgentProfile.Presence.OFFLINE)
    count = 0
    for profile in gone.select_related("user"):
        set_presence(user=profile.user, presence=AgentProfile.Presence.OFFLINE, by_system=True)
        count += 1
    return count


def sweep_overflow(*, now: Any = None) -> int:
    """Items waiting longer than their queue's overflow timeout move to the overflow queue or drop optional skills."""
    now = now or timezone.now()
    moved = 0
    for queue in Queue.objects.filter(overflow_timeout_seconds__isnull=False).select_related("overflow_queue"):
        cutoff = now - timedelta(seconds=queue.overflow_timeout_seconds or 0)
        ids = list(
            RoutingItem.objects.filter(
                queue=queue, state=RoutingItem.State.WAITING, overflowed_at__isnull=True, queued_at__lte=cutoff
            ).values_list("pk", flat=True)
        )
        for pk in ids:
            with transaction.atomic():
                item = (
                    RoutingItem.objects.select_for_update(skip_locked=True)
                    .filter(pk=pk, state=RoutingItem.State.WAITING, overflowed_at__isnull=True)
                    .first()
                )
                if item is None:
                    continue
                target = queue.overflow_queue
                if target is not None and target.pk != queue.pk:
                    move_to_queue(item=item, queue=target, reset_skills=False, reason="overflowed", overflowed_at=now)
                else:
                    # No queue to go to: the item stays, and from now on its optional skills are not asked for.
                    item.overflowed_at = now
                    item.save(update_fields=["overflowed_at", "updated_at"])
                    route_item(item=RoutingItem.objects.select_related("queue").get(pk=item.pk))
                moved += 1
    return moved


def sweep_queues() -> int:
    """The catch-all trigger: whatever could be assigned now is (after a missed trigger or a crash).

    SWEEP_GROUP decisions per transaction (route_queue's groups: in push mode matched in memory and written in one
    statement, routing/matching.py): the same decisions, at a fraction of the statements and commits."""
    routed = 0
    queue_ids = RoutingItem.objects.filter(state=RoutingItem.State.WAITING).values_list("queue_id", flat=True)
    for queue in Queue.objects.filter(pk__in=queue_ids.distinct()):
        routed += route_queue(queue=queue, per_transaction=SWEEP_GROUP)
    return routed


def sweep_routing() -> dict[str, int]:
    result = {
        "offers_expired": offers.expire_offers(),
        "agents_offline": sweep_presence(),
        "overflowed": sweep_overflow(),
        "routed": sweep_queues(),
    }
    stats.flush_skipped()
    return result
