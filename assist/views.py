"""Desk (htmx) views of the agent's assistance: thin adapters around assist's services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from assist import canned, notes
from interactions import access, selectors
from omnidesk.http import HtmxHttpRequest


@require_POST
@login_required
def add_note(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The composer in Note mode: an internal note, never sent to the customer."""
    conversation = access.get_conversation_for_action(request.user, pk)
    try:
        note = notes.add_note(conversation=conversation, author=request.user, text=request.POST.get("text", ""))
    except ValidationError as error:
        context = {
            "conversation": conversation,
            "errors": error.messages,
            "mode": "note",
            "draft": request.POST.get("text", ""),
            "reply_channels": selectors.reply_channels(conversation, request.user),
        }
        response = render(request, "desk/desk.html#composer", context, status=422)
        return reswap(retarget(response, "#composer"), "outerHTML")
    if not request.htmx:
        return redirect("desk:conversation", pk=pk)
    return render(request, "desk/desk.html#sent", {"conversation": note.conversation, "item": note})


@require_GET
@login_required
def open_mention(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Marks the mention read and opens its conversation."""
    mention = notes.open_mention(user=request.user, pk=pk)
    return redirect("desk:conversation", pk=mention.conversation_id)


@require_GET
@login_required
def canned_search(request: HtmxHttpRequest, pk: int) -> JsonResponse:
    """The composer's "/" search: canned responses rendered for this conversation's customer."""
    conversation = access.get_conversation_for_action(request.user, pk)
    query = request.GET.get("q", "")[:100]
    return JsonResponse({"results": canned.suggestions(user=request.user, conversation=conversation, query=query)})
