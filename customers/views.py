"""Customer 360° page and customer search (htmx): parse the request, call a selector or service, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from customers import profile, selectors
from customers.models import Customer
from interactions.selectors import customer_timeline
from omnidesk.http import HtmxHttpRequest

TIMELINE_PAGE = 50
BLANK_ATTRIBUTE_ROWS = 3


def parse_before(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def timeline_page(customer: Customer, *, before: int | None) -> dict[str, Any]:
    """One page of the unified timeline, and the id the "Load older" control continues from (None on the last)."""
    items = customer_timeline(customer, before=before, limit=TIMELINE_PAGE + 1)
    page = items[:TIMELINE_PAGE]
    return {"timeline": page, "older_than": page[-1].pk if len(items) > TIMELINE_PAGE else None}


def attribute_rows(attributes: dict[str, Any] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    rows = list(attributes.items()) if isinstance(attributes, dict) else list(attributes)
    return [(str(key), "" if value is None else str(value)) for key, value in rows] + [("", "")] * BLANK_ATTRIBUTE_ROWS


def detail_context(request: HttpRequest, customer: Customer, *, before: int | None = None) -> dict[str, Any]:
    return {
        "customer": customer,
        "identities": selectors.identities_of(customer),
        "open_cases": selectors.open_cases(request.user, customer),
        "contacts": selectors.contacts_per_channel(customer),
        "summary_days": selectors.SUMMARY_DAYS,
        "before": before,
        **timeline_page(customer, before=before),
    }


@require_GET
@login_required
def detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = selectors.get_customer_for_agent(request.user, pk)
    before = parse_before(request.GET.get("before"))
    if request.htmx and before is not None:
        context = {"customer": customer, **timeline_page(customer, before=before)}
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
        profile.update_customer_attributes(customer=customer, attributes=pairs, by=request.user)
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
