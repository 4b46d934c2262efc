"""Periodic SLA work, merged into Celery beat by omnidesk/celery.py: the entries only, by task name.

This module is imported while the Celery app is configured, before Django's apps are ready, so it imports none of
them: the tasks live in the tasks modules beside the services they run (routing/tasks.py, interactions/tasks.py),
under the names below.
"""

from __future__ import annotations

import os

# Seconds between two SLA sweeps (and snooze wake-ups): warnings and breaches go out at most this late.
SLA_SWEEP_INTERVAL = float(os.environ.get("OMNIDESK_SLA_SWEEP_INTERVAL", "30"))

# The tasks' names from when they lived in this module: beat's entries and messages already queued carry them.
SWEEP_SLA_TASK = "routing.schedule.sweep_sla_task"
WAKE_SNOOZED_TASK = "routing.schedule.wake_snoozed_task"

BEAT = {
    "sweep-sla": {"task": SWEEP_SLA_TASK, "schedule": SLA_SWEEP_INTERVAL},
    "wake-snoozed-conversations": {"task": WAKE_SNOOZED_TASK, "schedule": SLA_SWEEP_INTERVAL},
}
