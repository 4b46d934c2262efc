"""Celery adapters of the routing sweeps."""

from __future__ import annotations

from celery import shared_task

from routing import stats
from routing.sweeps import sweep_routing


@shared_task(name="routing.tasks.sweep_routing", ignore_result=True)
def sweep_routing_task() -> dict[str, int]:
    return sweep_routing()


@shared_task(name=stats.PUBLISH_TASK, ignore_result=True)
def publish_stats_task() -> bool:
    return stats.publish_stats()
