"""The API's permissions beyond "signed in". Who is a supervisor is decided by interactions.access only."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from interactions.access import is_supervisor


class IsSupervisor(BasePermission):
    """An active user whose agent profile has the supervisor role (never merely `is_staff`): 403 for any other
    signed-in user, 401/403 (DRF's rule) for an anonymous one."""

    message = _("Only supervisors may do this.")
    code = "supervisors_only"

    def has_permission(self, request: Request, view: Any) -> bool:
        # A method the view does not implement stays a 405 for everyone, as before this permission existed.
        implemented = hasattr(view, (request.method or "").lower())
        return not implemented or is_supervisor(request.user)


class IsSupervisorToChange(IsSupervisor):
    """Everyone signed in reads (GET, HEAD, OPTIONS); only supervisors write: shared reference data."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)
