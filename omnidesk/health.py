"""GET /healthz: the state of every component the spine depends on.

Anyone (a load balancer, a probe) gets {"status": "ok"} or {"status": "degraded"} with 200 or 503; the per-component
details (versions, backends, worker names, error messages) only go to supervisors and to callers presenting the
OMNIDESK_HEALTH_TOKEN as a bearer token, since they map the deployment for an attacker.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import HttpRequest, JsonResponse

from interactions import access
from omnidesk import realtime
from omnidesk.celery import app


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True, "vendor": connection.vendor}


async def check_channel_layer() -> dict[str, Any]:
    await realtime.check_layer()
    backend = str(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    return {"ok": True, "backend": backend.rsplit(".", 1)[-1]}


def check_broker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "in-process"}
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0, timeout=2)
    return {"ok": True, "mode": "redis"}


def check_worker() -> dict[str, Any]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {"ok": True, "mode": "in-process"}
    replies = app.control.ping(timeout=1.0) or []
    return {"ok": bool(replies), "workers": sorted(name for reply in replies for name in reply)}


CHECKS: dict[str, Callable[[], Any]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
    "worker": check_worker,
}


def presents_health_token(request: HttpRequest) -> bool:
    token = str(settings.OMNIDESK_HEALTH_TOKEN)
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(token.encode(), given.encode("utf-8", errors="replace"))


def is_supervisor(user: Any) -> bool:
    """A supervisor by role, the same rule as the desk (interactions.access decides who is one)."""
    return bool(user.is_authenticated and user.is_active and access.is_supervisor(user))


async def may_see_details(request: HttpRequest) -> bool:
    if presents_health_token(request):
        return True
    user = await request.auser() if hasattr(request, "auser") else AnonymousUser()
    return await sync_to_async(is_supervisor)(user)


async def healthz(request: HttpRequest) -> JsonResponse:
    report: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        if name == "worker" and not report["broker"]["ok"]:
            # Pinging workers through a broker that is down would only wait for the retries to run out.
            report[name] = {"ok": False, "error": "broker unreachable"}
            continue
        try:
            if asyncio.iscoroutinefunction(check):
                report[name] = await check()
            else:
                report[name] = await sync_to_async(check)()
        except Exception as error:
            report[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
    healthy = all(part["ok"] for part in report.values())
    answer: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
    if await may_see_details(request):
        answer["checks"] = report
    return JsonResponse(answer, status=200 if healthy else 503)
