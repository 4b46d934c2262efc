"""Periodic tasks of the messaging app (merged into Celery beat by omnidesk/celery.py): none yet."""

from typing import Any

BEAT: dict[str, dict[str, Any]] = {}
