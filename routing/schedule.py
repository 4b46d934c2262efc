"""Periodic SLA work, merged into Celery beat by omnidesk/celery.py, and the task adapters beat calls.

This module is imported while the Celery app is configured, before Django's apps are ready: the tasks import the
services only when they run.
"""

from __future__ import annotations

import os

from celery import shared_task

# Seconds between two SLA sweeps (and snooze wake-ups): warnings and breaches go out at most this late.
SLA_SWEEP_INTERVAL = float(os.environ.get("OMNIDESK_SLA_SWEEP_INTERVAL", "30"))

BEAT = {
    "sweep-sla": {"task": "routing.schedule.sweep_sla_task", "schedule": SLA_SWEEP_INTERVAL},
    "wake-snoozed-conversations": {"task": "routing.schedule.wake_snoozed_task", "schedule": SLA_SWEEP_INTERVAL},
}


@shared_task(acks_late=True)
def sweep_sla_task() -> dict[str, int]:
    from routing import sla

    result = sla.sweep_sla()
    return {"warned": len(result.warned), "breached": len(result.breached), "escalated": len(result.escalated)}


@shared_task(acks_late=True)
def wake_snoozed_task() -> int:
    from routing import sla

    return len(sla.wake_snoozed_conversations())
