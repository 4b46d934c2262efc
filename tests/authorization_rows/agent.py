"""Authorization rows of the agent area (issue 15): next best action, conversation list filters, composer files."""

from __future__ import annotations

from typing import Any

from tests.authorization_roles import DESK_GET_ONLY, DESK_POST_ONLY, Row, desk_act, everyone
from tests.vis_support import World


def conv(w: World, s: Any) -> int:
    return int(s.conversation.pk)


ROWS: dict[str, Row] = {
    # Suggestions and their answers are actions on the conversation: readers get 403, confidential outsiders 404.
    "desk/conversations/<int:pk>/next-actions/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/next-actions/", desk_act(200), DESK_GET_ONLY
    ),
    "desk/conversations/<int:pk>/next-actions/feedback/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/next-actions/feedback/",
        DESK_POST_ONLY,
        desk_act(200),
        data=lambda w, s: {"key": "open_case", "outcome": "dismissed"},
    ),
    # No phone line in the matrix's world: those who may act are told to pick one (422).
    "desk/conversations/<int:pk>/next-actions/callback/": Row(
        lambda w, s: f"/desk/conversations/{conv(w, s)}/next-actions/callback/",
        DESK_POST_ONLY,
        desk_act(422),
        data=lambda w, s: {"number": "+33612345678", "channel": "0"},
    ),
    # A visitor's file link: the signature is the permission, whoever asks; a forged one is 404 for everyone.
    "widget/files/<str:token>/": Row(lambda w, s: "/widget/files/forged-token/", everyone(404), everyone(405)),
}
