"""Celery adapters of the routing sweeps."""

from __future__ import annotations

from celery import shared_task

from routing import sla, stats
from routing.schedule import SWEEP_SLA_TASK
from routing.sweeps import sweep_routing


@shared_task(name="routing.tasks.sweep_routing", ignore_result=True)
def sweep_routing_task() -> dict[str, int]:
    return sweep_routing()


@shared_task(name=stats.PUBLISH_TASK, ignore_result=True)
def publish_stats_task() -> bool:
    return stats.publish_stats()


@shared_task(name=SWEEP_SLA_TASK, acks_late=True)
def sweep_sla_task() -> dict[str, int]:
    result = sla.sweep_sla()
    return {"warned": len(result.warned), "breached": len(result.breached), "escalated": len(result.escalated)}
