"""Periodic tasks of the messaging app (merged into Celery beat by omnidesk/celery.py)."""

from typing import Any

BEAT: dict[str, dict[str, Any]] = {
    "messaging-prune-pending-receipts": {
        "task": "interactions.messaging.tasks.prune_pending_receipts",
        "schedule": 3600.0,
    },
}
