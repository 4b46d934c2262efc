"""The authorization matrix of issue 11, generated from ONE table: every URL pattern of the URLconf (and every
websocket route of omnidesk/asgi.py) × every role, with the status each role gets for a GET and for the write that
matters (POST, or PATCH where that is the write).

A URL pattern (or websocket route) without a row fails `test_it_has_a_row_for_every_url_pattern`: a new endpoint cannot
ship without someone deciding who may use it.

Roles, and the objects their `<int:pk>` names (tests/vis_support.py builds them):
- anonymous: nobody logged in;
- member: Alice, agent of Support, on Support's objects (her conversation, call, callback, offer…);
- other_team: Oscar, agent of Billing, on Support's objects (read-only: messages yes, notes no, actions 403);
- confidential_outsider: Alice on the confidential Fraud queue's objects (metadata only: 404 on open);
- confidential_member: Fiona, agent of Fraud, on Fraud's objects;
- supervisor: Sophie (profile role supervisor), on Support's objects;
- staff: Stan, `is_staff` but only an agent of no queue: not a supervisor;
- deactivated: Dora, a former Support agent whose account is inactive: she is nobody.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.authorization_roles import FRAUD_ROLES, REFUSED, ROLE_USER, ROLES, SAME, Expect, Row
from tests.authorization_table import ACCEPTED, TABLE, WS_TABLE
from tests.vis_support import World, world_fixture  # noqa: F401 - the `world` fixture


def url_patterns(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    """Every route of the URLconf, prefixes joined; the admin's many routes are one row ("admin/")."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith("admin/"):
            yield "admin/"
        elif isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def websocket_routes() -> set[str]:
    from omnidesk.asgi import application

    router = application.application_mapping["websocket"]
    assert isinstance(router, URLRouter)
    return {str(route.pattern) for route in router.routes}


def test_it_has_a_row_for_every_url_pattern() -> None:
    assert set(url_patterns(get_resolver().url_patterns)) == set(TABLE)


def test_it_has_a_row_for_every_websocket_route() -> None:
    assert websocket_routes() == set(WS_TABLE)


def request_as(world: World, role: str, row: Row, method: str) -> int:
    """One request by `role`, in a savepoint rolled back afterwards: each role meets the same untouched world."""
    scope = world.fraud if role in FRAUD_ROLES else world.support
    client = Client()
    if ROLE_USER[role] is not None:
        client.force_login(world.users[str(ROLE_USER[role])])
    url = row.url(world, scope)
    with transaction.atomic():
        if method == "get":
            response = client.get(url)
        else:
            data = row.data(world, scope)
            if row.api:
                response = getattr(client, method)(url, data, content_type="application/json")
            else:
                response = getattr(client, method)(url, data)
        if response.streaming:
            # Reading a streamed response to its end closes it the way the test client expects (no extra
            # request_finished, which would close the test's database connection).
            b"".join(response.streaming_content)  # type: ignore[attr-defined]
        transaction.set_rollback(True)
    return int(response.status_code)


def matches(expected: Expect, got: dict[str, int]) -> bool:
    if set(expected.values()) == {SAME}:
        return len(set(got.values())) == 1
    return all((got[role] >= 400) if status == REFUSED else got[role] == status for role, status in expected.items())


def _cases() -> list[Any]:
    return [pytest.param(route, id=route or "/") for route in TABLE]


@pytest.mark.django_db
@pytest.mark.parametrize("route", _cases())
def test_it_answers_each_role_as_the_table_says(world: World, route: str) -> None:
    """One world per route: the GET and the write, each role in a savepoint rolled back after its request."""
    row = TABLE[route]
    got_get = {role: request_as(world, role, row, "get") for role in ROLES}
    got_write = {role: request_as(world, role, row, row.method) for role in ROLES}
    problems = []
    if not matches(row.get, got_get):
        problems.append(f"GET {route}: expected {row.get}, got {got_get}")
    if not matches(row.write, got_write):
        problems.append(f"{row.method.upper()} {route}: expected {row.write}, got {got_write}")
    assert not problems, "\n".join(problems)


async def ws_outcome(path: str, user: Any) -> int:
    """ACCEPTED, or the close code the server answered the connection (or its hello) with."""
    from omnidesk.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        session_key = await database_sync_to_async(_session_for)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    if not connected:
        return int(code or 1000)
    await communicator.disconnect()
    return ACCEPTED


def _session_for(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return str(client.session.session_key)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", sorted(WS_TABLE))
async def test_it_opens_each_websocket_route_as_the_table_says(
    route: str, alice: Any, oscar: Any, fiona: Any, sophie: Any, stan: Any, dora: Any
) -> None:
    users = {"alice": alice, "oscar": oscar, "fiona": fiona, "sophie": sophie, "stan": stan, "dora": dora}
    got = {}
    for role in ROLES:
        name = ROLE_USER[role]
        got[role] = await ws_outcome(f"/{route}", users[name] if name else None)
    assert got == WS_TABLE[route]
