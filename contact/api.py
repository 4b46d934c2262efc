"""The contact page's public JSON endpoints (thin adapters): same-origin rules as the widget, clear errors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from contact import bookings, handoff, visits
from contact.models import ContactSite, FunnelEvent, IntentNode
from contact.page import intent_payload, search_nodes, tree_of
from omnidesk.auth import client_ip

MAX_BODY = 16 * 1024


def error(message: str, code: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def _allowed(request: HttpRequest, site: ContactSite) -> bool:
    """Calls come from the hosted page (same origin) or a site allowed to embed the widget."""
    origin = request.headers.get("Origin")
    if origin is None or origin == f"{request.scheme}://{request.get_host()}":
        return True
    return site.chat_channel.allows_origin(origin)


def _cors(response: JsonResponse, request: HttpRequest) -> JsonResponse:
    origin = request.headers.get("Origin")
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


def public_endpoint(handler: Any) -> Any:
    """Site lookup, origin check, JSON body, ValidationError → 400 with the message."""

    @csrf_exempt
    @require_POST
    def view(request: HttpRequest, key: str) -> JsonResponse:
        site = visits.find_site(key=key)
        if site is None:
            return _cors(error(_("Unknown site key."), "unknown_site", 404), request)
        if not _allowed(request, site):
            return error(_("This website may not use this contact page."), "origin_refused", 403)
        if len(request.body) > MAX_BODY:
            return _cors(error(_("Request too large."), "too_large", 413), request)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _cors(error(_("Invalid JSON."), "bad_json"), request)
        try:
            return _cors(handler(request, site, body), request)
        except visits.RateLimited as limited:
            return _cors(error(str(limited), "rate_limited", 429), request)
        except ValidationError as invalid:
            return _cors(error(" ".join(invalid.messages), invalid.code or "invalid"), request)

    return view


def _node(site: ContactSite, body: dict[str, Any]) -> IntentNode:
    try:
        pk = int(str(body.get("intent")))
    except (TypeError, ValueError):
        pk = 0
    node = IntentNode.objects.select_related("intent__queue").filter(site=site, pk=pk, is_active=True).first()
    if node is None or node.is_category:
        raise ValidationError(_("This intent does not belong to this site."), code="unknown_intent")
    return node


@public_endpoint
def start(request: HttpRequest, site: ContactSite, body: dict[str, Any]) -> JsonResponse:
    visit = visits.start_visit(
        site=site,
        address=client_ip(request),
        language=str(body.get("language", "en")),
        device=str(body.get("device", "desktop")),
        identity=body.get("identity"),
    )
    return JsonResponse({"visit": visit.visit_id, "tree": tree_of(site=site, language=visit.language)})


@public_endpoint
def search(request: HttpRequest, site: ContactSite, body: dict[str, Any]) -> JsonResponse:
    visit = visits.find_visit(site=site, visit_id=body.get("visit"))
    return JsonResponse(
        {"results": search_nodes(site=site, text=str(body.get("q", ""))[:300], language=visit.language)}
    )


@public_endpoint
def choose_intent(request: HttpRequest, site: ContactSite, body: dict[str, Any]) -> JsonResponse:
    visit = visits.find_visit(site=site, visit_id=body.get("visit"))
    return JsonResponse(intent_payload(site=site, visit=visit, node=_node(site, body)))


@public_endpoint
def step(request: HttpRequest, site: ContactSite, body: dict[str, Any]) -> JsonResponse:
    visit = visits.find_visit(site=site, visit_id=body.get("visit"))
    node = _node(site, body) if body.get("intent") else None
    event = visits.record_client_step(visit=visit, step=body.get("step"), node=node, solution=body.get("solution"))
    return JsonResponse({"stored": event is not None})


@public_endpoint
def chat(request: HttpRequest, site: ContactSite, body: dict[str, Any]) -> JsonResponse:
    visit = visits.find_visit(site=site, visit_id=body.get("visit"))
    node = _node(site, body)
    handoff.hand_chat_over(site=site, visit=visit, node=node, token=body.get("token"))
    return JsonResponse({"ok": True, "intent": node.label(visit.language)})


@public_endpoint
def callback(request: HttpRequest, site: ContactSite, body: dict[str, Any]) -> JsonResponse:
    visit = visits.find_visit(site=site, visit_id=body.get("visit"))
    node = _node(site, body)
    try:
        start_at = datetime.fromisoformat(str(body.get("slot")))
    except ValueError:
        raise ValidationError(_("Pick a slot."), code="bad_slot") from None
    if start_at.tzinfo is None:
        raise ValidationError(_("Pick a slot."), code="bad_slot")
    if visit.events.filter(step=FunnelEvent.Step.CONTACT_CREATED, node=node).exists():
        raise ValidationError(_("You already asked us about this."), code="already_done")
    version = visits.current_version_seen(visit=visit, node=node)
    booked = bookings.book_callback(
        site=site,
        start=start_at,
        number=str(body.get("phone", "")),
        name=str(body.get("name", ""))[:100],
        note=f"{node.label('en')} (contact page)",
    )
    visits.record_step(
        visit=visit, step=FunnelEvent.Step.SOLUTION_CHOSEN, node=node, version=version, solution="callback"
    )
    visits.record_step(
        visit=visit,
        step=FunnelEvent.Step.CONTACT_CREATED,
        node=node,
        version=version,
        solution="callback",
        callback=booked,
    )
    return JsonResponse({"ok": True, "slot": booked.window_start.isoformat()})


@public_endpoint
def email_form(request: HttpRequest, site: ContactSite, body: dict[str, Any]) -> JsonResponse:
    visit = visits.find_visit(site=site, visit_id=body.get("visit"))
    node = _node(site, body)
    handoff.send_contact_form(
        site=site, visit=visit, node=node, email=body.get("email"), name=body.get("name"), text=body.get("text")
    )
    return JsonResponse({"ok": True})
