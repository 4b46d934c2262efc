"""The hooks application remembers the webhook paths it resolved (omnidesk/hooks_app.py `resolved_path`): the same
view and arguments as resolving afresh, nothing kept for a path that is not a webhook, and a bounded memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.urls import Resolver404, get_resolver

from omnidesk import hooks_app


@pytest.fixture(autouse=True)
def empty_memory() -> Iterator[None]:
    hooks_app._resolved.clear()
    yield
    hooks_app._resolved.clear()


def test_it_resolves_a_webhook_path_once_and_answers_the_same_match_after() -> None:
    path = f"/hooks/twilio/{uuid.uuid4()}/"
    fresh = get_resolver(hooks_app.HOOKS_URLCONF).resolve(path)

    first = hooks_app.resolved_path(path)
    again = hooks_app.resolved_path(path)

    assert again is first
    assert (first.func, first.args, first.kwargs, first.view_name) == (
        fresh.func,
        fresh.args,
        fresh.kwargs,
        fresh.view_name,
    )


def test_it_keeps_nothing_for_a_path_that_is_not_a_webhook() -> None:
    for attempt in range(3):
        with pytest.raises(Resolver404):
            hooks_app.resolved_path(f"/admin/{attempt}/")
    with pytest.raises(Resolver404):
        hooks_app.resolved_path("/hooks/twilio/not-a-uuid/")

    assert hooks_app._resolved == {}


def test_it_starts_over_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks_app, "RESOLVED_PATHS", 3)
    paths = [f"/hooks/telegram/{uuid.uuid4()}/" for _ in range(4)]

    for path in paths:
        hooks_app.resolved_path(path)

    assert list(hooks_app._resolved) == [paths[3]]
    assert hooks_app.resolved_path(paths[0]).kwargs == {"channel": uuid.UUID(paths[0].split("/")[3])}
