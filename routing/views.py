"""Routing's desk pages (htmx adapters): presence, the supervisors' queue view, transfer, offer decisions."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from interactions import access
from interactions.models import Conversation
from omnidesk import realtime
from omnidesk.permissions import supervisor_required
from routing import agents, offers, selectors, transfers
from routing.intents import correct_intent as correct_intent_of
from routing.models import AgentProfile, Intent, Offer, Queue
from routing.services import set_presence


@require_POST
@login_required
def presence(request: HttpRequest) -> HttpResponse:
    value = request.POST.get("presence", "")
    if value not in (AgentProfile.Presence.AVAILABLE, AgentProfile.Presence.AWAY):
        return HttpResponseBadRequest("unknown presence")
    try:
        profile = set_presence(user=request.user, presence=value)
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=429, content_type="text/plain")
    if getattr(request, "htmx", False):
        choices = [c for c in AgentProfile.Presence.choices if c[0] != AgentProfile.Presence.OFFLINE]
        return render(request, "desk/desk.html#presence", {"profile": profile, "presence_choices": choices})
    return redirect("desk:home")


@require_POST
@supervisor_required
def takes_work(request: HttpRequest) -> HttpResponse:
    """A supervisor chooses whether routing offers them work (the checkbox beside presence); agents use Away."""
    profile = agents.set_takes_work(user=request.user, takes_work=request.POST.get("takes_work") == "on")
    if getattr(request, "htmx", False):
        return render(request, "desk/_takes_work.html", {"profile": profile})
    return redirect("desk:home")


@require_GET
@supervisor_required
def supervisor(request: HttpRequest) -> HttpResponse:
    open_ = (
        Conversation.objects.filter(status=Conversation.Status.OPEN, queue__isnull=False)
        .select_related("customer", "channel", "queue", "assignee")
        .order_by("queued_at", "pk")[:50]
    )
    context = {
        **selectors.supervisor_overview(),
        **selectors.transfer_targets(request.user),
        "conversations": open_,
        "last_event_id": realtime.latest_event_id(),
    }
    return render(request, "routing/supervisor.html", context)


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


@require_POST
@login_required
def transfer(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = access.get_conversation_for_action(request.user, pk)
    target = request.POST.get("target", "")
    to_agent = to_queue = None
    kind, _sep, ident = target.partition(":")
    if kind == "agent" and ident.isdigit():
        to_agent = get_user_model().objects.filter(pk=int(ident), is_active=True).first()
    elif kind == "queue" and ident.isdigit():
        to_queue = Queue.objects.filter(pk=int(ident)).first()
    if to_agent is None and to_queue is None:
        return HttpResponse(_("Pick an agent or a queue to transfer to."), status=422, content_type="text/plain")
    try:
        transfers.transfer_conversation(
            conversation=conversation,
            by=request.user,
            to_agent=to_agent,
            to_queue=to_queue,
            note=request.POST.get("note", ""),
        )
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=422, content_type="text/plain")
    except PermissionDenied as error:
        return HttpResponse(str(error), status=403, content_type="text/plain")
    return redirect(safe_next(request, "/desk/"))


@require_POST
@login_required
def decide_offer(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    try:
        offer = offers.get_offer_for_agent(request.user, pk)
    except Offer.DoesNotExist:
        raise Http404("No such offer") from None
    try:
        if decision == "accept":
            offers.accept_offer(offer=offer, by=request.user)
        elif decision == "decline":
            offers.decline_offer(offer=offer, by=request.user)
        else:
            raise Http404("No such decision")
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=409, content_type="text/plain")
    if decision == "accept":
        return redirect("desk:conversation", pk=offer.item.conversation_id)
    return redirect("desk:home")


@require_POST
@login_required
def correct_intent(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = access.get_conversation_for_action(request.user, pk)
    intent = Intent.objects.filter(key=request.POST.get("intent", "")).first()
    if intent is None:
        return HttpResponse(_("Pick one of the intents."), status=422, content_type="text/plain")
    correct_intent_of(conversation=conversation, intent=intent, by=request.user)
    return redirect(safe_next(request, "/desk/"))
