"""Reporting's rows: reports and exports for every active agent (their own figures only, see
test_reporting_views.py), wallboard and staffing for supervisors, the survey answer page public (its signed token is
the credential; a fresh survey per request so that every role's answer is a first answer)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from reporting import surveys
from reporting.models import Survey
from tests.authorization_roles import (
    API_WRONG_METHOD,
    DESK_GET_ONLY,
    Row,
    api_agents,
    api_supervisors,
    desk_agents,
    desk_supervisors,
    everyone,
)
from tests.vis_support import World


def survey_url(w: World, s: Any) -> str:
    conversation = s.conversation
    survey = Survey.objects.create(
        conversation=conversation,
        customer_id=conversation.customer_id,
        channel_id=conversation.channel_id,
        sent_at=timezone.now(),
    )
    return surveys.answer_path(survey)


ROWS: dict[str, Row] = {
    "desk/reports/": Row(lambda w, s: "/desk/reports/", desk_agents(200), DESK_GET_ONLY),
    "desk/reports/export.csv": Row(lambda w, s: "/desk/reports/export.csv", desk_agents(200), DESK_GET_ONLY),
    "desk/reports/export.xlsx": Row(lambda w, s: "/desk/reports/export.xlsx", desk_agents(200), DESK_GET_ONLY),
    "desk/reports/conversations/": Row(
        lambda w, s: "/desk/reports/conversations/?kind=answered", desk_agents(200), DESK_GET_ONLY
    ),
    "desk/wallboard/": Row(lambda w, s: "/desk/wallboard/", desk_supervisors(200), DESK_GET_ONLY),
    "survey/<str:token>/": Row(survey_url, everyone(200), everyone(200), data=lambda w, s: {"score": "5"}),
    "api/reports/": Row(lambda w, s: "/api/reports/", api_agents(200), API_WRONG_METHOD, api=True),
    "api/reports/staffing/": Row(
        lambda w, s: f"/api/reports/staffing/?queue={s.queue.pk}", api_supervisors(200), API_WRONG_METHOD, api=True
    ),
}
