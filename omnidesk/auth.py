"""Login throttling: django-axes' backend, for requests only."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses (and counts) logins of a locked-out username + IP; the next backend checks the password.

    Every login that comes over HTTP — the login page, the admin — calls authenticate() with its request, so every
    attempt an attacker can make is counted. Code that authenticates without a request (the test client's
    `login()`, a management command) has no address to count by: django-axes would raise there, this backend
    steps aside instead and lets the next backend decide.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The login's client address for django-axes: REMOTE_ADDR, or behind OMNIDESK_TRUSTED_PROXIES proxies the
    address the outermost trusted proxy saw (X-Forwarded-For read from the right, so a client cannot choose it)."""
    proxies = settings.OMNIDESK_TRUSTED_PROXIES
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")
