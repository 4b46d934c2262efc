"""Errors: what error reports (the debug page, mails to ADMINS) may show — never a secret, a token or a signature —
and the one body of every REST API error (`api_exception_handler`)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.views.debug import SafeExceptionReporterFilter
from rest_framework import status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler


class SecretsHidingFilter(SafeExceptionReporterFilter):
    """Django hides settings and request headers whose name looks secret (…KEY, …TOKEN, …SIGNATURE…) but shows every
    local variable of the traceback unless a view is decorated. Channel secrets travel in locals (`secrets`,
    `auth_token`, a channel's `secrets` dict read into a variable), so locals get the same treatment, recursively."""

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: TracebackType | Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]


# --- the one error body of the REST API -------------------------------------------------------------------------------
#
# Every error the API answers (4xx and 503) has the same JSON body:
#
#     {"detail": "<what went wrong, for a person>", "code": "<stable machine code>", "fields": {...}}
#
# `fields` maps each input field at fault to its messages, exactly as the serializer nests them
# ({"identities": {"0": {"address": ["…"]}}}); it is {} when the error is not about one field. Services refuse with
# django.core.exceptions.ValidationError (its `code` becomes `code`, its message_dict `fields`), so that views carry no
# `except ValidationError` blocks: the handler below turns it into a 400. A refused webhook is a 403 (code
# "webhook_refused"), a database outage on a webhook a 503 with Retry-After (code "storage_unavailable").


class WebhookRefused(Exception):
    """A provider's webhook request is not authentic (or not for this channel); the message says why, no secret."""

    status_code = 403


class StorageUnavailable(Exception):
    """The database is down: nothing was stored, the caller must retry."""

    status_code = 503
    retry_after = 5


class Conflict(APIException):
    """409: the request is valid but clashes with the current state (an address another customer holds)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This conflicts with the current state.")
    default_code = "conflict"


def _leaves(value: Any) -> list[str]:
    """The messages (or codes) of a nested error structure, in order."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [str(value)]


def _as_drf(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        # Each message keeps its own code (a service's {"attributes": [too_large]} answers code "too_large"), and
        # Django's "__all__" is the API's non-field key, so it never shows up as a field.
        detail: Any = get_error_detail(exc)
        if isinstance(detail, dict) and NON_FIELD_ERRORS in detail:
            detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
        return ValidationError(detail)
    if isinstance(exc, WebhookRefused):
        return PermissionDenied(str(exc), code="webhook_refused")
    if isinstance(exc, StorageUnavailable):
        unavailable = APIException(str(exc), code="storage_unavailable")
        unavailable.status_code = StorageUnavailable.status_code
        return unavailable
    return exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: DRF's handler (status, headers, 404s, throttling), then the one body."""
    drf_exc = _as_drf(exc)
    response = exception_handler(drf_exc, context)
    if response is None:
        return None  # not an API error: a 500, reported as such
    if isinstance(exc, StorageUnavailable):
        response["Retry-After"] = str(StorageUnavailable.retry_after)
    codes = _leaves(drf_exc.get_codes()) if isinstance(drf_exc, APIException) else []
    data = response.data
    if isinstance(drf_exc, ValidationError) and isinstance(data, dict):
        fields = {name: value for name, value in data.items() if name != api_settings.NON_FIELD_ERRORS_KEY}
        messages = _leaves(data.get(api_settings.NON_FIELD_ERRORS_KEY, [])) + _leaves(fields)
    else:
        fields, messages = {}, _leaves(data.get("detail", data) if isinstance(data, dict) else data)
    response.data = {"detail": " ".join(messages), "code": codes[0] if codes else "error", "fields": fields}
    return response
