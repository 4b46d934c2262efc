"""Logins are throttled (django-axes, per username + IP address), the API's schema and docs are for signed-in users
only, and /healthz tells anonymous callers only whether all is well."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.utils import timezone

from interactions.management.commands.seed_demo import DEMO_PASSWORD
from tests.conftest import PASSWORD

LOCKOUT_TEXT = "Too many failed logins"


def log_in(client: Client, username: str, password: str, *, path: str = "/accounts/login/") -> Any:
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR="203.0.113.7")


def fail_until_locked(client: Client, username: str, *, path: str = "/accounts/login/") -> list[int]:
    return [log_in(client, username, "wrong guess", path=path).status_code for _ in range(settings.AXES_FAILURE_LIMIT)]


def test_it_locks_a_username_out_after_the_failure_limit_with_a_clear_message(alice: Any) -> None:
    client = Client()
    statuses = fail_until_locked(client, "alice")
    assert statuses[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again, with its error
    assert statuses[-1] == 429
    locked = log_in(client, "alice", PASSWORD)  # even the right password: the pair is locked
    assert locked.status_code == 429
    assert LOCKOUT_TEXT in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_lets_the_same_user_in_from_another_address_while_locked(alice: Any) -> None:
    fail_until_locked(Client(), "alice")
    other = Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="198.51.100.9")
    assert other.status_code == 302


def test_it_lets_a_correct_login_in_after_the_cool_off(alice: Any) -> None:
    client = Client()
    fail_until_locked(client, "alice")
    assert log_in(client, "alice", PASSWORD).status_code == 429
    # The cool-off has passed: the attempts are older than AXES_COOLOFF_TIME.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    answer = log_in(client, "alice", PASSWORD)
    assert answer.status_code == 302
    assert answer["Location"] == "/desk/"


def test_it_throttles_the_admin_login_too(sophie: Any) -> None:
    client = Client()
    statuses = fail_until_locked(client, "sophie", path="/admin/login/")
    assert statuses[-1] == 429
    assert log_in(client, "sophie", PASSWORD, path="/admin/login/").status_code == 429


def test_it_resets_the_count_after_a_successful_login(alice: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "alice", "wrong guess")
    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert log_in(Client(), "alice", "wrong guess").status_code == 200  # counting starts again: not locked


def test_it_still_logs_the_test_client_in_without_a_request(alice: Any) -> None:
    assert Client().login(username="alice", password=PASSWORD) is True


@pytest.mark.parametrize("password", ["password123", "12345678901", "azertyuiop"])
def test_it_refuses_common_and_numeric_passwords(password: str) -> None:
    with pytest.raises(ValidationError):
        validate_password(password)


def test_it_accepts_the_demo_password() -> None:
    validate_password(DEMO_PASSWORD)


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_it_refuses_the_api_schema_and_docs_to_anonymous_callers(db: None, path: str) -> None:
    answer = Client().get(path)
    assert answer.status_code == 403
    assert b"openapi" not in answer.content


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_it_serves_the_api_schema_and_docs_to_a_signed_in_agent(alice: Any, path: str) -> None:
    client = Client()
    client.force_login(alice)
    assert client.get(path).status_code == 200


def test_it_refuses_the_schema_to_a_deactivated_user(alice: Any) -> None:
    client = Client()
    client.force_login(alice)
    alice.is_active = False
    alice.save()
    assert client.get("/api/schema/").status_code == 403


def test_it_tells_anonymous_health_callers_only_the_overall_status(db: None) -> None:
    answer = Client().get("/healthz")
    assert answer.status_code in (200, 503)
    assert answer.json() == {"status": "ok" if answer.status_code == 200 else "degraded"}


@override_settings(OMNIDESK_HEALTH_TOKEN="health-token-for-tests")
def test_it_gives_health_details_to_the_monitoring_token(db: None) -> None:
    answer = Client().get("/healthz", headers={"Authorization": "Bearer health-token-for-tests"})
    assert set(answer.json()["checks"]) == {"database", "channel_layer", "broker", "worker"}
    wrong = Client().get("/healthz", headers={"Authorization": "Bearer health-token-for-testz"})
    assert "checks" not in wrong.json()
    non_ascii = Client().get("/healthz", headers={"Authorization": "Bearer héalth"})
    assert "checks" not in non_ascii.json()


def test_it_gives_health_details_to_a_supervisor_but_not_to_an_agent(sophie: Any, alice: Any) -> None:
    supervisor, agent = Client(), Client()
    supervisor.force_login(sophie)
    agent.force_login(alice)
    assert "checks" in supervisor.get("/healthz").json()
    assert "checks" not in agent.get("/healthz").json()


@override_settings(OMNIDESK_TRUSTED_PROXIES=1)
def test_it_counts_the_address_the_trusted_proxy_saw_not_one_the_client_claims(alice: Any) -> None:
    def attempt(claimed: str) -> int:
        return int(
            Client()
            .post(
                "/accounts/login/",
                {"username": "alice", "password": "wrong guess"},
                REMOTE_ADDR="10.0.0.2",
                HTTP_X_FORWARDED_FOR=f"{claimed}, 203.0.113.50",
            )
            .status_code
        )

    # A new made-up address in front each time does not escape: the proxy appended the real one last.
    statuses = [attempt(f"198.51.100.{n}") for n in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses[-1] == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.50"}
