"""Reports, exports, drill-down, wallboard and the survey answer page: thin adapters over selectors and services."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from interactions import access
from interactions.models import Channel, Conversation
from omnidesk import realtime
from reporting import exports, selectors, surveys, wallboard
from reporting.models import Survey
from routing.models import Intent, Queue

DEFAULT_TZ = "Europe/Paris"
LABELS = {
    "offered": gettext_lazy("Offered"),
    "answered": gettext_lazy("Answered"),
    "abandoned": gettext_lazy("Abandoned"),
    "short_abandoned": gettext_lazy("Short abandons"),
    "service_level": gettext_lazy("Service level"),
    "asa_seconds": gettext_lazy("ASA"),
    "asa_business_seconds": gettext_lazy("ASA (business hours)"),
    "abandonment_rate": gettext_lazy("Abandonment"),
    "aht_seconds": gettext_lazy("AHT"),
    "first_response_seconds": gettext_lazy("First response"),
    "first_response_business_seconds": gettext_lazy("First response (business hours)"),
    "reply_seconds": gettext_lazy("Reply time"),
    "occupancy": gettext_lazy("Occupancy"),
    "slot_utilisation": gettext_lazy("Chat slot utilisation"),
    "transfer_rate": gettext_lazy("Transfer rate"),
    "reopen_rate": gettext_lazy("Re-open rate"),
    "survey_response_rate": gettext_lazy("Survey response rate"),
    "csat": gettext_lazy("CSAT"),
    "nps": gettext_lazy("NPS"),
    "ces_mean": gettext_lazy("CES (mean)"),
    "ces_easy": gettext_lazy("CES 5–7"),
    "handled": gettext_lazy("Handled"),
    "resolved": gettext_lazy("Resolved"),
    "offered_out_of_hours": gettext_lazy("Offered out of hours"),
    "out_of_hours_rate": gettext_lazy("Out-of-hours share"),
    "fcr": gettext_lazy("First contact resolution"),
    "channel_attrition": gettext_lazy("Channel attrition"),
}
# A count links to the conversations behind it: the event kind that makes it.
DRILL = {
    "offered": "offered_to_queue",
    "answered": "answered",
    "abandoned": "abandoned",
    "short_abandoned": "short_abandoned",
    "handled": "resolved",
    "resolved": "resolved",
}
RATES = {
    "service_level",
    "abandonment_rate",
    "occupancy",
    "slot_utilisation",
    "transfer_rate",
    "reopen_rate",
    "survey_response_rate",
    "csat",
    "ces_easy",
    "out_of_hours_rate",
    "fcr",
    "channel_attrition",
}


def shown(name: str, value: Any) -> str:
    """A figure as a supervisor reads it: rates in %, durations in s; "–" for no data (a zero denominator)."""
    if value is None:
        return "–"
    if name in RATES:
        return f"{value * 100:.1f} %"
    if name.endswith("_seconds"):
        return f"{value:.0f} s"
    if name == "nps":
        return f"{value:.0f}"
    if name == "ces_mean":
        return f"{value:.2f}"
    return f"{value:.0f}"


def _parse_date(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def report_params(request: HttpRequest) -> dict[str, Any]:
    """The report's range (local dates, inclusive in the form, half-open in the computation), group and filters."""
    tz = request.GET.get("tz") or DEFAULT_TZ
    try:
        today = selectors.today_for(tz)
    except (KeyError, ValueError):
        tz, today = DEFAULT_TZ, selectors.today_for(DEFAULT_TZ)
    last = _parse_date(request.GET.get("to"), today)
    first = _parse_date(request.GET.get("from"), last - timedelta(days=6))
    if first > last or (last - first).days > 366:
        first = last - timedelta(days=6)
    group = request.GET.get("group") if request.GET.get("group") in selectors.GROUPS else "queue"
    filters: dict[str, Any] = {}
    for name in ("queue", "intent", "agent"):
        if (request.GET.get(name) or "").isdigit():
            filters[name] = int(request.GET[name])
    if request.GET.get("channel") in Channel.Kind.values:
        filters["channel"] = request.GET["channel"]
    return {"first": first, "last": last, "tz": tz, "group": group, "filters": filters}


def labels_for(group: str, keys: list[Any]) -> dict[Any, str]:
    names: dict[Any, Any]
    if group == "queue":
        names = dict(Queue.objects.filter(pk__in=keys).values_list("pk", "name"))
    elif group == "intent":
        names = dict(Intent.objects.filter(pk__in=keys).values_list("pk", "name"))
    elif group == "agent":
        names = {u.pk: u.first_name or u.get_username() for u in get_user_model().objects.filter(pk__in=keys)}
    elif group == "channel":
        names = dict(Channel.Kind.choices)
    else:
        names = {}
    return {key: str(names.get(key, key if key not in (0, "", None) else _("(none)"))) for key in keys}


def row_query(params: dict[str, Any], key: Any) -> str:
    """The query string of the conversations behind one row (its own filter and dates)."""
    query: dict[str, Any] = {**params["filters"], "tz": params["tz"]}
    first, last = params["first"], params["last"]
    group = params["group"]
    if group in ("day", "week", "month"):
        first = max(first, key)
        span = {"day": timedelta(days=0), "week": timedelta(days=6)}.get(group)
        end = (
            key + span
            if span is not None
            else (key.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        )
        last = min(last, end)
    else:
        query[group] = key
    query.update({"from": first.isoformat(), "to": last.isoformat()})
    return urlencode(query)


def _report(request: HttpRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    params = report_params(request)
    data = selectors.report(user=request.user, **params)
    return params, data


@require_GET
@login_required
def reports(request: HttpRequest) -> HttpResponse:
    if not access.is_active_agent(request.user):
        raise PermissionDenied
    params, data = _report(request)
    keys = list(data["rows"])
    labels = labels_for(params["group"], keys)
    rows = [
        {
            "key": key,
            "label": labels[key],
            "figures": data["rows"][key],
            "query": row_query(params, key),
            "cells": [(name, shown(name, data["rows"][key].get(name)), DRILL.get(name)) for name in selectors.FIGURES],
        }
        for key in keys
    ]
    summary = [
        (LABELS[name], shown(name, data["total"].get(name)), shown(name, data["previous"].get(name)))
        for name in ("offered", "service_level", "asa_seconds", "abandonment_rate", "aht_seconds", "csat", "fcr")
    ]
    chart = {
        "labels": [r["label"] for r in rows],
        "offered": [r["figures"]["offered"] for r in rows],
        "service_level": [r["figures"]["service_level"] for r in rows],
    }
    context = {
        **params,
        "rows": rows,
        "total": data["total"],
        "previous": data["previous"],
        "headers": [LABELS[name] for name in selectors.FIGURES],
        "summary": summary,
        "groups": selectors.GROUPS,
        "chart": chart,
        "queues": Queue.objects.order_by("name"),
        "is_supervisor": access.is_supervisor(request.user),
        "query": request.GET.urlencode(),
    }
    return render(request, "reporting/reports.html", context)


def table(request: HttpRequest) -> tuple[list[str], list[list[Any]]]:
    params, data = _report(request)
    labels = labels_for(params["group"], list(data["rows"]))
    header = [params["group"], *(str(LABELS[name]) for name in selectors.FIGURES)]
    body = [[labels[key], *(figs.get(name) for name in selectors.FIGURES)] for key, figs in data["rows"].items()]
    return header, body


@require_GET
@login_required
def export_csv(request: HttpRequest) -> HttpResponse:
    if not access.is_active_agent(request.user):
        raise PermissionDenied
    header, body = table(request)
    response = HttpResponse(exports.to_csv(header, body), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="omnidesk-report.csv"'
    return response


@require_GET
@login_required
def export_xlsx(request: HttpRequest) -> HttpResponse:
    if not access.is_active_agent(request.user):
        raise PermissionDenied
    header, body = table(request)
    response = HttpResponse(
        exports.to_xlsx(header, body), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = 'attachment; filename="omnidesk-report.xlsx"'
    return response


@require_GET
@login_required
def drill_down(request: HttpRequest) -> HttpResponse:
    if not access.is_active_agent(request.user):
        raise PermissionDenied
    params = report_params(request)
    kind = request.GET.get("kind", "")
    if kind not in selectors.DRILLABLE:
        kind = "offered_to_queue"
    ids = selectors.drill_down(
        user=request.user,
        kind=kind,
        first=params["first"],
        last=params["last"],
        tz=params["tz"],
        filters=params["filters"],
    )
    conversations = Conversation.objects.filter(pk__in=ids).select_related("customer", "channel", "queue")
    return render(request, "reporting/drill_down.html", {"conversations": conversations, "kind": kind, **params})


@require_GET
@login_required
def wallboard_page(request: HttpRequest) -> HttpResponse:
    if not access.is_supervisor(request.user):
        raise PermissionDenied(_("The wallboard is for supervisors."))
    context = {"data": wallboard.figures(), "last_event_id": realtime.latest_event_id()}
    return render(request, "reporting/wallboard.html", context)


def _cors(response: HttpResponse, request: HttpRequest, survey: Survey) -> HttpResponse:
    origin = request.headers.get("Origin", "")
    if origin and origin in (survey.channel.allowed_origins or []):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Vary"] = "Origin"
    return response


@csrf_exempt  # the signed token is the credential; the widget posts cross-origin without a session
@require_http_methods(["GET", "POST", "OPTIONS"])
def survey_answer(request: HttpRequest, token: str) -> HttpResponse:
    try:
        survey = surveys.survey_from_token(token)
    except (signing.BadSignature, Survey.DoesNotExist):
        return _refused(request, _("This survey link is not valid or has expired."), 403)
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), request, survey)
    wants_json = request.content_type == "application/json"
    if request.method == "GET":
        score = request.GET.get("score", "")
        return render(request, "reporting/survey.html", {"survey": survey, "score": score, "token": token})
    if wants_json:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _cors(JsonResponse({"error": _("Send a JSON object.")}, status=400), request, survey)
    else:
        body = request.POST
    try:
        surveys.answer_survey(
            survey=survey,
            csat=body.get("score", body.get("csat")),
            nps=body.get("nps"),
            ces=body.get("ces"),
            comment=str(body.get("comment") or ""),
            via="widget" if wants_json else "link",
        )
    except surveys.SurveyAlreadyAnswered:
        return _answered(request, survey, wants_json, _("This survey was already answered. Thank you!"), 409)
    except surveys.SurveyError:
        message = _("Pick a score from the choices offered.")
        if wants_json:
            return _cors(JsonResponse({"error": message}, status=400), request, survey)
        return render(
            request, "reporting/survey.html", {"survey": survey, "error": message, "token": token}, status=400
        )
    return _answered(request, survey, wants_json, _("Thank you for your answer!"), 200)


def _answered(request: HttpRequest, survey: Survey, wants_json: bool, message: str, status: int) -> HttpResponse:
    if wants_json:
        return _cors(
            JsonResponse({"status": "answered" if status == 200 else "refused", "message": message}, status=status),
            request,
            survey,
        )
    return render(request, "reporting/survey_done.html", {"message": message}, status=status)


def _refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if request.content_type == "application/json":
        return JsonResponse({"error": message}, status=status)
    return render(request, "reporting/survey_done.html", {"message": message}, status=status)
