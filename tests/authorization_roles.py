"""The authorization matrix's vocabulary: the roles, and the expected-status shorthands its table is written in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.vis_support import World

ROLES = (
    "anonymous",
    "member",
    "other_team",
    "confidential_outsider",
    "confidential_member",
    "supervisor",
    "staff",
    "deactivated",
)
ROLE_USER = {
    "anonymous": None,
    "member": "alice",
    "other_team": "oscar",
    "confidential_outsider": "alice",
    "confidential_member": "fiona",
    "supervisor": "sophie",
    "staff": "stan",
    "deactivated": "dora",
}
FRAUD_ROLES = {"confidential_outsider", "confidential_member"}
# A webhook must never answer 2xx without a valid signature, whoever asks: "at least 400".
REFUSED = -1
# A public endpoint whose status does not depend on who asks: every role gets the same one.
SAME = -2

Expect = dict[str, int]
UrlOf = Callable[[World, Any], str]
DataOf = Callable[[World, Any], dict[str, Any]]


def S(
    anonymous: int,
    member: int,
    other_team: int,
    confidential_outsider: int,
    confidential_member: int,
    supervisor: int,
    staff: int,
    deactivated: int,
) -> Expect:
    cells = (anonymous, member, other_team, confidential_outsider, confidential_member, supervisor, staff, deactivated)
    return dict(zip(ROLES, cells, strict=True))


LOGIN = 302  # htmx/desk views send the anonymous (and the deactivated, who are anonymous) to the login page
NOAUTH = 403  # DRF with session authentication first: not authenticated is a 403


def everyone(status: int) -> Expect:
    return S(*(status,) * 8)


def desk_agents(ok: int) -> Expect:
    """Any active agent; anonymous and deactivated go to the login page."""
    return S(LOGIN, ok, ok, ok, ok, ok, ok, LOGIN)


def api_agents(ok: int) -> Expect:
    return S(NOAUTH, ok, ok, ok, ok, ok, ok, NOAUTH)


def desk_read(ok: int = 200) -> Expect:
    """May open: every active agent, except a confidential queue's outsiders (404)."""
    return S(LOGIN, ok, ok, 404, ok, ok, ok, LOGIN)


def api_read(ok: int = 200) -> Expect:
    return S(NOAUTH, ok, ok, 404, ok, ok, ok, NOAUTH)


def desk_act(ok: int, *, other: int = 403) -> Expect:
    """May act: members, assignee, supervisors; readers get 403, confidential outsiders 404."""
    return S(LOGIN, ok, other, 404, ok, ok, other, LOGIN)


def api_act(ok: int, *, other: int = 403) -> Expect:
    return S(NOAUTH, ok, other, 404, ok, ok, other, NOAUTH)


def desk_supervisors(ok: int) -> Expect:
    return S(LOGIN, 403, 403, 403, 403, ok, 403, LOGIN)


def api_supervisors(ok: int) -> Expect:
    return S(NOAUTH, 403, 403, 403, 403, ok, 403, NOAUTH)


DESK_POST_ONLY = everyone(405)  # require_POST answers before login_required
DESK_GET_ONLY = everyone(405)
API_WRONG_METHOD = api_agents(405)  # DRF authenticates first, then refuses the method


@dataclass
class Row:
    url: UrlOf
    get: Expect
    write: Expect
    data: DataOf = field(default=lambda w, s: {})
    method: str = "post"
    api: bool = False
