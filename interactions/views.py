"""Desk (htmx) views: parse the request, call a service or selector, render a template or a partial of it."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from assist import composer_files, list_filters
from customers import selectors as customer_selectors
from interactions import access, selectors, services
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from omnidesk.http import HtmxHttpRequest
from routing import sla
from routing.models import AgentProfile


def desk_context(request: HttpRequest) -> dict[str, object]:
    user: Any = request.user  # the views are login_required
    profile, _created = AgentProfile.objects.get_or_create(user=user)
    filters = list_filters.parse_filters(request.GET)
    return {
        # The lists under the desk's filters (query parameters: a filtered desk is a link); unfiltered, the same two
        # lists as interactions.selectors.desk_lists.
        **list_filters.filtered_lists(user=user, filters=filters),
        **list_filters.filter_choices(user),
        "filters": filters,
        "profile": profile,
        "presence_choices": [c for c in AgentProfile.Presence.choices if c[0] != AgentProfile.Presence.OFFLINE],
        "last_event_id": realtime.latest_event_id(),
        # For live delivery receipts, in the agent's language (escaped as an attribute by the template).
        "delivery_status_labels": json.dumps({str(value): str(label) for value, label in Interaction.Status.choices}),
    }


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    if request.htmx:
        return render(request, "desk/desk.html#lists", desk_context(request))
    return render(request, "desk/desk.html", desk_context(request))


@require_GET
@login_required
def conversation_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = access.get_conversation_for_agent(request.user, pk)
    customer = conversation.customer
    timeline = selectors.customer_timeline_for(request.user, customer, limit=100)
    may_act = access.may_act_on(request.user, conversation)
    context = {
        "conversation": conversation,
        # False: another team's conversation, opened read-only (no reply, status, transfer or resolve controls).
        "may_act": may_act,
        "timeline": list(reversed(timeline)),
        # The 360° panel beside the conversation: who this is, on which channels, and what else is open.
        "identities": customer_selectors.identities_of(customer),
        "contacts": customer_selectors.contacts_per_channel(customer),
        "summary_days": customer_selectors.SUMMARY_DAYS,
        "open_cases": customer_selectors.open_cases(request.user, customer).select_related("channel"),
        "reply_channels": selectors.reply_channels(conversation, request.user),
        "sla": sla.sla_state(conversation),
        "status_choices": STATUS_CHOICES,
    }
    if request.htmx:
        return render(request, "desk/desk.html#conversation", context)
    return render(request, "desk/desk.html", {**desk_context(request), **context})


@require_POST
@login_required
def reply(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = access.get_conversation_for_action(request.user, pk)
    try:
        channel = selectors.get_reply_channel(conversation, request.POST.get("channel"), request.user)
        interaction = composer_files.reply_with_files(
            conversation=conversation,
            author=request.user,
            text=request.POST.get("text", ""),
            channel=channel,
            uploads=request.FILES.getlist("files"),
            link_base=request.build_absolute_uri("/"),
        )
    except (ValidationError, Channel.DoesNotExist) as error:
        messages = error.messages if isinstance(error, ValidationError) else [_("Pick one of the offered channels.")]
        context = {
            "conversation": conversation,
            "errors": messages,
            "reply_channels": selectors.reply_channels(conversation, request.user),
        }
        response = render(request, "desk/desk.html#composer", context, status=422)
        return reswap(retarget(response, "#composer"), "outerHTML")
    if not request.htmx:
        return redirect("desk:conversation", pk=pk)
    return render(request, "desk/desk.html#sent", {"conversation": conversation, "item": interaction})


@require_POST
@login_required
def resolve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = access.get_conversation_for_action(request.user, pk)
    services.resolve_conversation(conversation=conversation, by=request.user)
    if request.htmx:
        return HttpResponseClientRedirect("/desk/")
    return redirect("desk:home")


STATUS_CHOICES = [
    (value, label) for value, label in Conversation.Status.choices if value != Conversation.Status.RESOLVED
]


@require_POST
@login_required
def set_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Pending, snoozed until a time (read in the desk's time zone when no offset is given) or open again."""
    conversation = access.get_conversation_for_action(request.user, pk)
    raw_until = request.POST.get("snoozed_until", "").strip()
    until = parse_datetime(raw_until) if raw_until else None
    try:
        if raw_until and until is None:
            raise ValidationError(_("Give the snooze time as a date and time."), code="bad_snooze_time")
        if until is not None and timezone.is_naive(until):
            until = timezone.make_aware(until)
        services.set_conversation_status(
            conversation=conversation, status=request.POST.get("status", ""), by=request.user, snoozed_until=until
        )
    except ValidationError as error:
        context = {"conversation": conversation, "status_errors": error.messages, "status_choices": STATUS_CHOICES}
        response = render(request, "desk/desk.html#status-form", context, status=422)
        return reswap(retarget(response, "#status-form"), "outerHTML")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("desk:conversation", args=[pk]))
    return redirect("desk:conversation", pk=pk)


@require_GET
@login_required
def attachment(request: HttpRequest, pk: int) -> FileResponse:
    """Any channel's stored file (email attachment, provider media), to agents who may see its conversation.

    A download by default: a file claimed to be an image may be HTML or SVG with scripts. Only inline email images
    (cid:) are shown in place, and even then under a sandboxing CSP and nosniff.
    """
    stored = access.get_attachment_for_agent(request.user, pk)
    if not stored.file:
        raise Http404("This attachment was not stored")
    inline = stored.content_type.startswith("image/") and bool(stored.content_id)
    response = FileResponse(
        stored.file.open("rb"),
        as_attachment=not inline,
        filename=stored.filename,
        content_type=stored.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@require_GET
def widget_demo(request: HttpRequest) -> HttpResponse:
    channel = Channel.objects.filter(kind=Channel.Kind.CHAT, is_active=True).order_by("pk").first()
    context = {
        "channel_key": channel.public_key if channel else "",
        "widget_src": request.build_absolute_uri(static("widget/omnidesk-widget.js")),
    }
    return render(request, "widget/demo.html", context)
