from __future__ import annotations

from celery import shared_task

from reporting import wallboard


@shared_task(name="reporting.push_wallboard")
def push_wallboard_task() -> bool:
    return wallboard.push_wallboard()
