"""Settings fail closed: outside the embedded default omnidesk will not start without its own key, and the documented
production environment passes `check --deploy` and sends the HTTPS and content-security headers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.views.debug import ExceptionReporter

ROOT = Path(__file__).resolve().parent.parent
# What README's Deployment section asks for (a real deployment has its own random key and host names).
PRODUCTION_KEY = "Xq3v-kP9z_R2mW8tL5yN7bH4cJ6fD1sA0eG3hK9uQ2wE5rT8yU1iO4pZ7xC6vB3nM"
NOT_INHERITED = (
    "DEBUG",
    "SECRET_KEY",
    "OMNIDESK_HTTPS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the test conftest's, refused by check --deploy
)


def environment(**values: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env["DJANGO_SETTINGS_MODULE"] = "omnidesk.settings"
    env.update(values)
    return env


def production(**values: str) -> dict[str, str]:
    """The documented production environment, DEBUG unset, on the test database (nothing is written to it)."""
    documented = {
        "SECRET_KEY": PRODUCTION_KEY,
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "ALLOWED_HOSTS": "desk.example.com",
    }
    return environment(**{**documented, **values})


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_it_refuses_to_start_without_a_secret_key_outside_the_embedded_default() -> None:
    env = environment(DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL)
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_it_refuses_the_public_development_key_outside_the_embedded_default() -> None:
    env = production(SECRET_KEY=settings.DEVELOPMENT_SECRET_KEY, DEBUG="true")
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY is the public development key" in result.stderr


def test_it_starts_embedded_without_a_key_and_without_debug() -> None:
    code = "from django.conf import settings; import django; django.setup(); print(settings.DEBUG, settings.EMBEDDED)"
    result = run(["-c", code], environment(SQLITE_PATH="/tmp/omnidesk-set-embedded.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_it_passes_check_deploy_with_the_documented_production_environment() -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production())
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_passes_check_deploy_when_hsts_preload_is_turned_off_on_purpose() -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production(SECURE_HSTS_PRELOAD="0"))
    assert result.returncode == 0, result.stderr


HEADERS_SCRIPT = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="desk.example.com")
page = client.get("/accounts/login/", secure=True)
plain = client.get("/accounts/login/")
health = client.get("/healthz")
print(json.dumps({
    "csp": page.get("Content-Security-Policy", ""),
    "hsts": page.get("Strict-Transport-Security", ""),
    "frame": page.get("X-Frame-Options", ""),
    "csrf_cookie_secure": bool(page.cookies["csrftoken"]["secure"]),
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location", ""),
    "health_status": health.status_code,
    "session_cookie_secure": __import__("django.conf").conf.settings.SESSION_COOKIE_SECURE,
}))
"""


def test_it_keeps_images_to_self_and_data_when_remote_images_are_turned_off() -> None:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.CONTENT_SECURITY_POLICY)"
    result = run(["-c", code], production(OMNIDESK_CSP_REMOTE_IMAGES="false"))
    assert result.returncode == 0, result.stderr
    assert "'img-src': [\"'self'\", 'data:']" in result.stdout


@pytest.fixture(scope="module")
def production_headers() -> dict[str, Any]:
    result = run(["-c", HEADERS_SCRIPT], production())
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_it_sends_a_strict_content_security_policy(production_headers: dict[str, Any]) -> None:
    directives = dict(part.strip().split(" ", 1) for part in production_headers["csp"].split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["img-src"] == "'self' data: https:"  # an email's remote images, on the agent's request
    assert directives["connect-src"] == "'self' wss://desk.example.com:*"  # no plain ws:// in production
    assert "unsafe" not in production_headers["csp"]


def test_it_sends_hsts_and_secure_cookies_in_production(production_headers: dict[str, Any]) -> None:
    assert production_headers["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert production_headers["frame"] == "DENY"
    assert production_headers["csrf_cookie_secure"] is True
    assert production_headers["session_cookie_secure"] is True


def test_it_redirects_plain_http_to_https_except_the_health_probe(production_headers: dict[str, Any]) -> None:
    assert production_headers["plain_status"] == 301
    assert production_headers["plain_location"] == "https://desk.example.com/accounts/login/"
    assert production_headers["health_status"] in (200, 503)


def failing_with_secrets_in_locals() -> None:
    secrets = {"auth_token": "twilio-token-never-shown"}
    app_secret = "meta-secret-never-shown"
    config = {"nested": {"signing_secret": "api-secret-never-shown"}}
    raise RuntimeError(f"boom {len(secrets) + len(app_secret) + len(config)}")


def test_it_hides_channel_secrets_from_error_reports() -> None:
    try:
        failing_with_secrets_in_locals()
    except RuntimeError:
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_text()
    assert "boom" in report
    for secret in ("twilio-token-never-shown", "meta-secret-never-shown", "api-secret-never-shown"):
        assert secret not in report
    assert "********************" in report
