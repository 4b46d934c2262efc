"""Periodic tasks of the phone channel (merged into the beat schedule by omnidesk/celery.py)."""

import os

BEAT = {
    # Callbacks whose (next) attempt is due become conversations in the voice queue; retries come due the same way.
    "route-due-callbacks": {
        "task": "interactions.phone.tasks.route_due_callbacks",
        "schedule": float(os.environ.get("OMNIDESK_CALLBACK_INTERVAL", "10")),
    },
}
