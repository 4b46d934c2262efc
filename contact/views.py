"""The hosted contact page and the supervisors' desk pages (setup, per-intent report): thin adapters."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_POST

from contact import reports, scenarios, visits
from contact.models import IntentNode
from interactions import access


@require_GET
def contact_page(request: HttpRequest, key: str) -> HttpResponse:
    site = visits.find_site(key=key)
    if site is None:
        raise Http404("unknown site key")
    context = {
        "site_key": site.key,
        "script_src": request.build_absolute_uri(static("contact/contact-page.js")),
        "widget_src": request.build_absolute_uri(static("widget/omnidesk-widget.js")),
    }
    return render(request, "contact/page.html", context)


def _supervisor(request: HttpRequest) -> None:
    if not access.is_supervisor(request.user):
        raise PermissionDenied


@require_GET
@login_required
def setup(request: HttpRequest) -> HttpResponse:
    _supervisor(request)
    nodes = IntentNode.objects.select_related("site__chat_channel", "parent", "intent").prefetch_related("versions")
    return render(request, "contact/setup.html", {"nodes": nodes})


@require_POST
@login_required
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    _supervisor(request)
    node = get_object_or_404(IntentNode, pk=pk)
    try:
        solutions = json.loads(request.POST.get("solutions", ""))
    except ValueError:
        solutions = None
    try:
        scenarios.publish_scenario(
            node=node,
            solutions=solutions,
            answer_en=request.POST.get("answer_en", ""),
            answer_fr=request.POST.get("answer_fr", ""),
            variant=request.POST.get("variant", "A").strip() or "A",
            by=request.user,
        )
    except ValidationError as invalid:
        nodes = IntentNode.objects.select_related("site__chat_channel", "parent", "intent")
        return render(request, "contact/setup.html", {"nodes": nodes, "errors": invalid.messages}, status=400)
    return redirect("contact:setup")


@require_GET
@login_required
def report(request: HttpRequest, pk: int) -> HttpResponse:
    _supervisor(request)
    node = get_object_or_404(IntentNode, pk=pk, intent__isnull=False)
    figures = reports.intent_report(node=node)
    top = max((v["steps"]["page_view"] or v["steps"]["intent_chosen"] for v in figures["variants"]), default=0)
    return render(request, "contact/report.html", {**figures, "steps": reports.STEPS, "top": top or 1})
