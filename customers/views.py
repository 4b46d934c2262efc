"""Customer 360° page, customer search and the supervisors' customer-data actions (htmx).

Each view parses the request, calls a selector or one service, and renders or redirects. The services decide who
may do what (PermissionDenied becomes a 403); refused input (ValidationError) is shown on the page with a 422.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from customers import csv_io, gdpr, selectors
from customers.attributes import update_customer_attributes
from customers.merge import duplicate_suggestions, merge_customers, unmerge_customers
from customers.models import Customer, CustomerImport, MergeRecord
from interactions.access import is_supervisor
from interactions.selectors import customer_timeline_for
from omnidesk.http import HtmxHttpRequest
from omnidesk.permissions import supervisor_required

TIMELINE_PAGE = 50
BLANK_ATTRIBUTE_ROWS = 3


def parse_before(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def timeline_page(user: Any, customer: Customer, *, before: int | None) -> dict[str, Any]:
    """One page of the unified timeline as `user` may see it (notes hidden, confidential entries `redacted`), and the
    id the "Load older" control continues from (None on the last)."""
    items = customer_timeline_for(user, customer, before=before, limit=TIMELINE_PAGE + 1)
    page = items[:TIMELINE_PAGE]
    return {"timeline": page, "older_than": page[-1].pk if len(items) > TIMELINE_PAGE else None}


def attribute_rows(attributes: dict[str, Any] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    rows = list(attributes.items()) if isinstance(attributes, dict) else list(attributes)
    return [(str(key), "" if value is None else str(value)) for key, value in rows] + [("", "")] * BLANK_ATTRIBUTE_ROWS


def supervisor_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """What the supervisor-only controls of the 360° page need; nothing for agents, who never see them."""
    if not is_supervisor(request.user):
        return {"supervisor": False}
    return {
        "supervisor": True,
        "duplicates": None,  # loaded by `duplicates` after the page
        "active_merges": customer.merges_as_target.filter(unmerged_at__isnull=True).select_related("source"),
    }


def detail_context(request: HttpRequest, customer: Customer, *, before: int | None = None) -> dict[str, Any]:
    return {
        **supervisor_context(request, customer),
        "customer": customer,
        "identities": selectors.identities_of(customer),
        "open_cases": selectors.open_cases(request.user, customer),
        "contacts": selectors.contacts_per_channel(customer),
        "summary_days": selectors.SUMMARY_DAYS,
        "before": before,
        **timeline_page(request.user, customer, before=before),
    }


@require_GET
@login_required
def detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = selectors.get_customer_for_agent(request.user, pk)
    before = parse_before(request.GET.get("before"))
    if request.htmx and before is not None:
        context = {"customer": customer, **timeline_page(request.user, customer, before=before)}
        return render(request, "customers/detail.html#timeline-page", context)
    return render(request, "customers/detail.html", detail_context(request, customer, before=before))


@require_GET
@login_required
def edit_attributes(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = selectors.get_customer_for_agent(request.user, pk)
    form = {"customer": customer, "editing": True, "rows": attribute_rows(customer.attributes or {})}
    if request.htmx:
        return render(request, "customers/detail.html#attributes-form", form)
    return render(request, "customers/detail.html", {**detail_context(request, customer), **form})


@require_POST
@login_required
def update_attributes(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = selectors.get_customer_for_agent(request.user, pk)
    pairs = list(zip(request.POST.getlist("key"), request.POST.getlist("value"), strict=False))
    try:
        update_customer_attributes(customer=customer, by=request.user, changes=pairs)
    except ValidationError as error:
        form = {"customer": customer, "editing": True, "rows": attribute_rows(pairs), "errors": error.messages}
        if request.htmx:
            response = render(request, "customers/detail.html#attributes-form", form, status=422)
            return reswap(retarget(response, "#attributes"), "outerHTML")
        return render(request, "customers/detail.html", {**detail_context(request, customer), **form}, status=422)
    if request.htmx:
        return render(request, "customers/detail.html#attributes", {"customer": customer})
    return redirect("customers:detail", pk=pk)


@require_GET
@login_required
def search(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    context = {
        "q": query,
        "customers": selectors.search_customers(request.user, query),
        "interactions": selectors.search_interactions(request.user, query),
    }
    if request.htmx:
        return render(request, "customers/search.html#results", context)
    return render(request, "customers/search.html", context)


# Supervisors' customer-data actions -----------------------------------------------------------------------------------

MAX_IMPORT_BYTES = 10 * 1024 * 1024
IMPORT_RUNNING = (CustomerImport.Status.PENDING, CustomerImport.Status.RUNNING)


def render_detail_with_errors(request: HttpRequest, customer: Customer, **errors: list[str]) -> HttpResponse:
    return render(request, "customers/detail.html", {**detail_context(request, customer), **errors}, status=422)


@require_GET
@supervisor_required
def export_json(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.get_customer_for_agent(request.user, pk)
    data = gdpr.export_customer_data(customer=customer, by=request.user)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
    return response


@require_POST
@supervisor_required
def erase(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.get_customer_for_agent(request.user, pk)
    if not request.POST.get("confirm"):
        return render_detail_with_errors(request, customer, erase_errors=[_("Tick the box to confirm the erasure.")])
    try:
        gdpr.erase_customer(customer=customer, by=request.user)
    except ValidationError as error:
        return render_detail_with_errors(request, customer, erase_errors=error.messages)
    return redirect("customers:detail", pk=customer.pk)


@require_POST
@supervisor_required
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    source = selectors.get_customer_for_agent(request.user, pk)
    try:
        target_pk = int(request.POST.get("target", ""))
    except ValueError:
        return render_detail_with_errors(request, source, merge_errors=[_("Enter the number of a customer.")])
    target = selectors.customers_visible_to(request.user).filter(pk=target_pk).first()
    if target is None:
        return render_detail_with_errors(
            request, source, merge_errors=[_("There is no customer #%(id)s.") % {"id": target_pk}]
        )
    try:
        merge_customers(source=source, target=target, by=request.user)
    except ValidationError as error:
        return render_detail_with_errors(request, source, merge_errors=error.messages)
    return redirect("customers:detail", pk=target.pk)


@require_POST
@supervisor_required
def unmerge(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(MergeRecord.objects.select_related("target"), pk=pk)
    try:
        source = unmerge_customers(record=record, by=request.user)
    except ValidationError as error:
        return render_detail_with_errors(request, record.target, unmerge_errors=error.messages)
    return redirect("customers:detail", pk=source.pk)


@require_http_methods(["GET", "POST"])
@supervisor_required
def import_upload(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "customers/import.html")
    upload = request.FILES.get("file")
    errors: list[str] = []
    content = ""
    if upload is None:
        errors.append(_("Choose a CSV file to import."))
    elif upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        errors.append(_("The file is too large (10 MB at most)."))
    else:
        try:
            content = csv_io.decode_csv(upload.read())
        except ValidationError as error:
            errors.extend(error.messages)
    if errors:
        return render(request, "customers/import.html", {"errors": errors}, status=422)
    customer_import = csv_io.create_customer_import(
        filename=upload.name if upload and upload.name else "", content=content, by=request.user
    )
    return redirect("customers:import-status", pk=customer_import.pk)


@require_GET
@supervisor_required
def import_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer_import = get_object_or_404(CustomerImport, pk=pk)
    context = {"customer_import": customer_import, "running": customer_import.status in IMPORT_RUNNING}
    if request.htmx:
        return render(request, "customers/import.html#progress", context)
    return render(request, "customers/import.html", context)


@require_GET
@supervisor_required
def export_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(csv_io.export_customers(user=request.user), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="customers.csv"'
    return response


@require_GET
@supervisor_required
def duplicates(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = selectors.get_customer_for_agent(request.user, pk)
    found = duplicate_suggestions(customer) if customer.merged_into_id is None else []
    context = {"customer": customer, "duplicates": found, "supervisor": True}
    if request.htmx:
        return render(request, "customers/detail.html#duplicates", context)
    return render(request, "customers/detail.html", {**detail_context(request, customer), **context})
