"""What error reports (the debug page, mails to ADMINS) may show: never a secret, a token or a signature."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class SecretsHidingFilter(SafeExceptionReporterFilter):
    """Django hides settings and request headers whose name looks secret (…KEY, …TOKEN, …SIGNATURE…) but shows every
    local variable of the traceback unless a view is decorated. Channel secrets travel in locals (`secrets`,
    `auth_token`, a channel's `secrets` dict read into a variable), so locals get the same treatment, recursively."""

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: TracebackType | Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]
