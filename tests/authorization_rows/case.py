"""Authorization rows for reshaping cases (issue 14): split, merge and undo, on the desk and in the API."""

from __future__ import annotations

from typing import Any

from interactions.models import CaseChange
from tests.authorization_roles import API_WRONG_METHOD, DESK_POST_ONLY, Row, api_act, desk_act
from tests.vis_support import World


def split_url(prefix: str) -> Any:
    # The scope's case holds a chat message and an email: the email can be split off.
    return lambda w, s: f"{prefix}/entries/{s.email_message.pk}/split/"


def merge_url(prefix: str) -> Any:
    return lambda w, s: f"{prefix}/conversations/{s.call_conversation.pk}/merge/"


def undo_url(prefix: str) -> Any:
    def url(w: World, s: Any) -> str:
        # A recorded split of nothing between the scope's two cases: undoing it only resolves the split-off case.
        change = CaseChange.objects.create(
            kind=CaseChange.Kind.SPLIT, source=s.conversation, target=s.call_conversation, interaction_ids=[]
        )
        return f"{prefix}/case-changes/{change.pk}/undo/"

    return url


ROWS: dict[str, Row] = {
    "desk/entries/<int:pk>/split/": Row(split_url("/desk"), DESK_POST_ONLY, desk_act(302)),
    "desk/conversations/<int:pk>/merge/": Row(
        merge_url("/desk"), DESK_POST_ONLY, desk_act(302), data=lambda w, s: {"into": s.conversation.pk}
    ),
    "desk/case-changes/<int:pk>/undo/": Row(undo_url("/desk"), DESK_POST_ONLY, desk_act(302)),
    "api/entries/<int:pk>/split/": Row(split_url("/api"), API_WRONG_METHOD, api_act(201), api=True),
    "api/conversations/<int:pk>/merge/": Row(
        merge_url("/api"), API_WRONG_METHOD, api_act(201), data=lambda w, s: {"into": s.conversation.pk}, api=True
    ),
    "api/case-changes/<int:pk>/undo/": Row(undo_url("/api"), API_WRONG_METHOD, api_act(200), api=True),
}
