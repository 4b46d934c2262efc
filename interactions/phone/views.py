"""Desk (htmx) views of the phone channel: parse the form, call one service, render the call's fragment."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from customers import selectors as customer_selectors
from interactions.phone import actions, callbacks, dialer, selectors
from interactions.phone.templatetags.phone import call_context, callback_context
from omnidesk.http import HtmxHttpRequest


def back(request: HtmxHttpRequest, conversation_id: int | None) -> HttpResponse:
    if conversation_id is not None:
        return redirect("desk:conversation", pk=conversation_id)
    return redirect("desk:home")


def call_fragment(request: HtmxHttpRequest, pk: int, errors: list[str] | None = None, status: int = 200) -> Any:
    call = selectors.get_call_for_agent(request.user, pk)
    if not request.htmx and not errors:
        return back(request, call.conversation_id)
    context = {**call_context(request.user, call), "errors": errors or []}
    return render(request, "phone/call_details.html", context, status=status)


@require_GET
@login_required
def call_details(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The call's block under its timeline entry, as it stands now (the desk reloads it when the call changes)."""
    return call_fragment(request, pk)


@require_POST
@login_required
def wrap_up(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    call = selectors.get_call_for_action(request.user, pk)
    try:
        actions.end_after_call_work(
            call=call, by=request.user, disposition=request.POST.get("disposition", ""), notes=request.POST.get("notes")
        )
    except ValidationError as error:
        return call_fragment(request, pk, errors=error.messages, status=422)
    return call_fragment(request, pk)


@require_POST
@login_required
def case_link(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    call = selectors.get_call_for_action(request.user, pk)
    try:
        actions.decide_case_link(call=call, by=request.user, confirm=request.POST.get("decision") == "confirm")
    except ValidationError as error:
        return call_fragment(request, pk, errors=error.messages, status=422)
    return call_fragment(request, pk)


@require_POST
@login_required
def name_caller(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    call = selectors.get_call_for_agent(request.user, pk)
    try:
        customer = actions.name_caller(call=call, by=request.user, name=request.POST.get("name", ""))
    except ValidationError as error:
        return render(request, "phone/message.html", {"errors": error.messages}, status=422)
    return render(request, "phone/message.html", {"saved": customer})


@require_POST
@login_required
def click_to_call(request: HtmxHttpRequest) -> HttpResponse:
    try:
        customer = customer_selectors.get_customer_for_agent(request.user, int(request.POST.get("customer", "0")))
        call = dialer.place_call(
            agent=request.user,
            customer=customer,
            number=request.POST.get("number") or None,
            channel=selectors.dialing_channel_for(request.user),
        )
    except ValueError:
        return render(request, "phone/message.html", {"errors": [_("Pick a customer.")]}, status=400)
    except ValidationError as error:
        return render(request, "phone/message.html", {"errors": error.messages}, status=422)
    return render(request, "phone/message.html", {"dialing": call}, status=202)


@require_POST
@login_required
def callback_outcome(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    callback = selectors.get_callback_for_agent(request.user, pk)
    conversation_id = callback.conversation_id
    errors: list[str] = []
    try:
        callback = callbacks.record_callback_outcome(
            callback=callback,
            outcome=request.POST.get("outcome", ""),
            by=request.user,
            note=request.POST.get("note", ""),
        )
    except ValidationError as error:
        errors = error.messages
    if not request.htmx and not errors:
        return back(request, conversation_id)
    context = {**callback_context(request.user, callback, conversation_id), "errors": errors}
    return render(request, "phone/callback_details.html", context, status=422 if errors else 200)
