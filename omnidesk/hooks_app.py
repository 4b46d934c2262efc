"""The `hooks` process's WSGI application: the providers' webhooks, with only the middleware a webhook needs.

A webhook is a signed machine-to-machine POST: it has no session, no user, no CSRF token, no language, no flash
messages, no htmx, no login to throttle, and its answer is never a page. Through the site's middleware (12 layers:
WhiteNoise, sessions, locale, CSRF, auth, messages, htmx, CSP built per response, axes…) and the site's URLconf
(resolved after the API, the desk, the customers… patterns) the accept path spent over 40 % of its CPU outside the
view (docs/deployment.md, "The hooks application"). Here it goes through:

- SecurityMiddleware: the HTTPS redirect, HSTS, nosniff, Referrer-Policy and COOP, from the same settings;
- CommonMiddleware: the Host header checked against ALLOWED_HOSTS on every request, refused user agents, the
  trailing-slash redirect, exactly as on the site;
- XFrameOptionsMiddleware and the site's Content-Security-Policy (built once, not per response);

and its URLs are only the webhooks (omnidesk/hooks_urls.py); `reverse()` still uses the site's URLconf. Signatures
are checked by the views themselves (interactions/intake.py), in constant time on the raw bytes, exactly as on the
site: the views are the same functions. Django's request signals still run, so database connections are checked and
recycled as everywhere (CONN_MAX_AGE). Requests to anything but a webhook get a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import ResolverMatch, get_resolver

HOOKS_URLCONF = "omnidesk.hooks_urls"
GetResponse = Callable[[HttpRequest], HttpResponseBase]


class SitePolicyHeaders:
    """The site's Content-Security-Policy (settings.CONTENT_SECURITY_POLICY, and its report-only twin if set) on
    every answer, as django-csp's middleware sets it on a response without a per-view policy (no webhook has one).
    Built once at start-up: django-csp rebuilds both policies for every response."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.policy = build_policy()
        self.report_only = build_policy(report_only=True)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.policy and HEADER not in response:
            response[HEADER] = self.policy
        if self.report_only and HEADER_REPORT_ONLY not in response:
            response[HEADER_REPORT_ONLY] = self.report_only
        return response


# Outermost first, as in settings.MIDDLEWARE (whose order these keep).
HOOKS_MIDDLEWARE: list[Callable[[GetResponse], Any]] = [
    SecurityMiddleware,
    CommonMiddleware,
    XFrameOptionsMiddleware,
    SitePolicyHeaders,
]


class HooksRouting:
    """What makes a Django handler the hooks' one: its own middleware list and URLconf. A mixin, so that the tests put
    it on Django's test client handler and call the webhooks exactly as the `hooks` process serves them."""

    _view_middleware: Any
    _template_response_middleware: Any
    _exception_middleware: Any
    _middleware_chain: Any
    _get_response: GetResponse

    def load_middleware(self, is_async: bool = False) -> None:
        """Django's BaseHandler.load_middleware for HOOKS_MIDDLEWARE: synchronous only (the hooks are WSGI)."""
        if is_async:
            raise ImproperlyConfigured("The hooks application is WSGI only.")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for middleware in reversed(HOOKS_MIDDLEWARE):
            instance = middleware(handler)
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """Resolved against the webhooks only; unlike `request.urlconf`, this leaves `reverse()` on the site's
        URLconf. A path found once is remembered (`resolved_path`)."""
        match = resolved_path(request.path_info)
        request.resolver_match = match
        return match


# Resolving a webhook's path walks the included URL modules and matches the UUID converter again for every request:
# ~24 µs of the accept path's ~0.7 ms of CPU (docs/performance-hooks.md). A process receives webhooks on the few
# paths of its channels, each many times, so the matches found are kept; a ResolverMatch is not changed by the
# handler or the views. A path that resolves to nothing raises Resolver404 as before and is not kept, so a scan of
# made-up paths cannot grow this; past RESOLVED_PATHS paths it starts over.
RESOLVED_PATHS = 1024
_resolved: dict[str, ResolverMatch] = {}


def resolved_path(path: str) -> ResolverMatch:
    match = _resolved.get(path)
    if match is None:
        match = get_resolver(HOOKS_URLCONF).resolve(path)
        if len(_resolved) >= RESOLVED_PATHS:
            _resolved.clear()
        _resolved[path] = match
    return match


class HooksHandler(HooksRouting, WSGIHandler):
    pass


def get_hooks_application() -> HooksHandler:
    """Like django.core.wsgi.get_wsgi_application, for the hooks."""
    django.setup(set_prefix=False)
    return HooksHandler()
