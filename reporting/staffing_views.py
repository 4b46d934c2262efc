"""The staffing page (/desk/reports/staffing/): Erlang C agents needed per 15-minute interval of a day, for
supervisors, with every input prefilled from the queue's history and settings and editable to try a scenario."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from interactions import access
from reporting import selectors, staffing
from reporting.events import DEFAULTS
from reporting.models import QueueReportingSettings
from routing.models import Queue

DEFAULT_MAX_OCCUPANCY = 85  # %: a common planning cap; above it agents burn out and service suffers
VOLUME_PREFIX = "v-"


class StaffingForm(forms.Form):
    queue = forms.ModelChoiceField(queryset=Queue.objects.order_by("name"), label=gettext_lazy("Queue"))
    date = forms.DateField(label=gettext_lazy("Day"), widget=forms.DateInput(attrs={"type": "date"}))
    aht = forms.FloatField(label=gettext_lazy("Average handle time (s)"), min_value=1, max_value=86_400)
    threshold = forms.FloatField(label=gettext_lazy("Answered within (s)"), min_value=0, max_value=3_600)
    goal = forms.FloatField(label=gettext_lazy("Service level target (%)"), min_value=1, max_value=99.9)
    max_occupancy = forms.FloatField(label=gettext_lazy("Maximum occupancy (%)"), min_value=1, max_value=100)


def _volumes(request: HttpRequest, prefilled: dict[str, float]) -> dict[str, float]:
    """The per-interval volumes as edited in the table (a blank or invalid cell keeps the history's figure)."""
    out = {}
    for slot, contacts in prefilled.items():
        try:
            value = float(request.GET.get(VOLUME_PREFIX + slot, contacts))
        except ValueError:
            value = contacts
        out[slot] = max(0.0, value)
    return out


def _prefill(queue: Queue, day: date) -> tuple[dict[str, Any], dict[str, float]]:
    options = QueueReportingSettings.objects.filter(queue=queue).first() or DEFAULTS
    volumes, aht = staffing.history(queue=queue, day=day)
    initial = {
        "queue": queue,
        "date": day,
        "aht": round(aht, 1),
        "threshold": options.service_level_seconds,
        "goal": round(options.service_level_goal * 100, 1),
        "max_occupancy": DEFAULT_MAX_OCCUPANCY,
    }
    return initial, volumes


@require_GET
@login_required
def staffing_page(request: HttpRequest) -> HttpResponse:
    if not access.is_supervisor(request.user):
        raise PermissionDenied(_("Staffing is for supervisors."))
    queues = list(Queue.objects.order_by("name"))
    queue = next((q for q in queues if str(q.pk) == request.GET.get("queue")), queues[0] if queues else None)
    context: dict[str, Any] = {"queue": queue, "rows": [], "chart": {}}
    if queue is None:
        return render(request, "reporting/staffing.html", {**context, "form": StaffingForm()})
    today = selectors.today_for(queue.timezone or "Europe/Paris")
    try:
        day = date.fromisoformat(request.GET.get("date") or today.isoformat())
    except ValueError:
        day = today
    initial, history = _prefill(queue, day)
    # A new queue or day starts again from its history; the same one keeps the supervisor's edits.
    edited = "aht" in request.GET and request.GET.get("shown") == f"{queue.pk}:{day.isoformat()}"
    form = StaffingForm(request.GET if edited else None, initial=initial)
    values = form.cleaned_data if edited and form.is_valid() else initial
    volumes = _volumes(request, history) if edited else history
    rows = staffing.plan(
        volumes=volumes,
        aht=values["aht"],
        target_seconds=values["threshold"],
        goal=values["goal"] / 100,
        max_occupancy=values["max_occupancy"] / 100,
        agents_logged_in=staffing.logged_in_agents(queue),
    )
    context.update(
        form=form,
        day=day,
        shown=f"{queue.pk}:{day.isoformat()}",
        rows=[{**row, "field": VOLUME_PREFIX + row["interval"]} for row in rows],
        chart={
            "labels": [row["interval"] for row in rows],
            "needed": [row["agents_needed"] for row in rows],
            "logged_in": [row["agents_logged_in"] for row in rows],
        },
        peak=max((row["agents_needed"] for row in rows), default=0),
    )
    return render(request, "reporting/staffing.html", context)
