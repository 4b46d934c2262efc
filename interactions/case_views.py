"""Desk (htmx) views for reshaping cases: split a message off, merge two cases, undo. Thin adapters over
interactions/case_changes.py; who may act is asked of interactions/access.py."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from interactions import access, case_changes, selectors
from interactions.models import CaseChange
from omnidesk.http import HtmxHttpRequest


def _to_case(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(reverse("desk:conversation", args=[pk]))
    return redirect("desk:conversation", pk=pk)


def _refused(error: ValidationError) -> HttpResponse:
    # A plain sentence: htmx swaps nothing on a 4xx, the desk's error handler shows it.
    return HttpResponse(" ".join(error.messages), status=422, content_type="text/plain; charset=utf-8")


@require_POST
@login_required
def split(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    entry = selectors.get_interaction_for_action(request.user, pk)
    try:
        change = case_changes.split_off(interaction=entry, by=request.user)
    except ValidationError as error:
        return _refused(error)
    return _to_case(request, change.target_id)


@require_POST
@login_required
def merge(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    source = access.get_conversation_for_action(request.user, pk)
    target = access.get_conversation_for_action(request.user, request.POST.get("into") or 0)
    try:
        case_changes.merge_cases(source=source, target=target, by=request.user)
    except ValidationError as error:
        return _refused(error)
    return _to_case(request, target.pk)


@require_POST
@login_required
def undo(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    change = get_object_or_404(CaseChange, pk=pk)
    access.get_conversation_for_action(request.user, change.source_id)
    access.get_conversation_for_action(request.user, change.target_id)
    try:
        case_changes.undo_case_change(change=change, by=request.user)
    except ValidationError as error:
        return _refused(error)
    return _to_case(request, change.source_id)
