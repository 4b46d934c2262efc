"""Supervisor-only guards: the API's permissions (IsSupervisor, IsSupervisorToChange) and the desk views' decorator
(supervisor_required), one rule and one message for both. Who is a supervisor is decided by interactions.access only."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from interactions.access import is_supervisor

SUPERVISORS_ONLY = _("Only supervisors may do this.")

View = Callable[..., HttpResponse]


def supervisor_required(view: View) -> View:
    """A desk (htmx) view for supervisors only: the login page for the anonymous, 403 for anyone else signed in,
    before the input is even read (the services check again)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_supervisor(request.user):
            raise PermissionDenied(SUPERVISORS_ONLY)
        return view(request, *args, **kwargs)

    return login_required(guarded)


class IsSupervisor(BasePermission):
    """An active user whose agent profile has the supervisor role (never merely `is_staff`): 403 for any other
    signed-in user, 401/403 (DRF's rule) for an anonymous one."""

    message = SUPERVISORS_ONLY
    code = "supervisors_only"

    def has_permission(self, request: Request, view: Any) -> bool:
        # A method the view does not implement stays a 405 for everyone, as before this permission existed.
        implemented = hasattr(view, (request.method or "").lower())
        return not implemented or is_supervisor(request.user)


class IsSupervisorToChange(IsSupervisor):
    """Everyone signed in reads (GET, HEAD, OPTIONS); only supervisors write: shared reference data."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)
