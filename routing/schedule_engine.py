"""The routing engine's periodic tasks (merged into the beat schedule by omnidesk/celery.py)."""

import os

# Offer timeouts and the 60 s offline rule need a few seconds' resolution; tests shorten the sweep interval.
INTERVAL = min(5.0, float(os.environ.get("OMNIDESK_SWEEP_INTERVAL", "5")))

BEAT = {
    "sweep-routing": {"task": "routing.tasks.sweep_routing", "schedule": INTERVAL},
}
