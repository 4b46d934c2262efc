"""HTTP adapters: the providers' webhooks, and the desk's messaging actions (templates, retry, attachments)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from interactions import access, intake, selectors
from interactions.messaging import meta, services, telegram, twilio
from interactions.messaging.webhooks import get_webhook_channel
from interactions.models import Channel, Interaction
from omnidesk.http import HtmxHttpRequest

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@csrf_exempt
@require_POST
def twilio_webhook(request: HttpRequest, channel: UUID) -> HttpResponse:
    if refused := intake.too_large(request):
        return refused

    def handle() -> HttpResponse:
        found = get_webhook_channel(provider="twilio", uuid=channel)
        raw = request.body  # read first: request.POST would consume the stream
        params = [(name, value) for name, values in request.POST.lists() for value in values]
        refusal = intake.check_twilio(
            auth_token=str(found.secrets.get("auth_token", "")),
            urls=intake.twilio_urls(channel=found, request=request),
            params=params,
            signature=request.headers.get("X-Twilio-Signature"),
        )
        events = partial(intake.keep_unreadable, partial(twilio.events_from_params, dict(params)), raw)
        intake.receive_signed(channel=found, provider="twilio", refusal=refusal, events=events)
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")

    return intake.answer(handle)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest, channel: UUID) -> HttpResponse:
    if refused := intake.too_large(request):
        return refused

    def handle() -> HttpResponse:
        found = get_webhook_channel(provider="meta", uuid=channel)
        if request.method == "GET":
            # The subscription handshake: echo hub.challenge only to whoever knows the verify token.
            refusal = intake.check_shared_token(
                secret_token=str(found.secrets.get("verify_token", "")), header=request.GET.get("hub.verify_token")
            )
            if request.GET.get("hub.mode") != "subscribe" or refusal:
                raise intake.refuse(channel=found, provider="meta", reason=refusal or "bad hub.mode")
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        body = request.body
        refusal = intake.check_meta(
            app_secret=str(found.secrets.get("app_secret", "")),
            body=body,
            signature=request.headers.get("X-Hub-Signature-256"),
        )
        events = partial(intake.keep_unreadable, partial(meta_events, found, body), body)
        intake.receive_signed(channel=found, provider="meta", refusal=refusal, events=events)
        return HttpResponse("ok", content_type="text/plain")

    return intake.answer(handle)


def meta_events(channel: Channel, body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The events of an authentic Meta body that are addressed to this channel's own number or page; the others are
    counted as refused (the app secret signs every number and page of the app alike)."""
    own, dropped = meta.keep_own_entries(json.loads(body), channel=channel)
    if dropped:
        intake.count_rejection(channel=channel, provider="meta", reason=intake.OTHER_ACCOUNT)
    return meta.events_from_body(own)


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest, channel: UUID) -> HttpResponse:
    if refused := intake.too_large(request):
        return refused

    def handle() -> HttpResponse:
        found = get_webhook_channel(provider="telegram", uuid=channel)
        refusal = intake.check_shared_token(
            secret_token=str(found.secrets.get("secret_token", "")),
            header=request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
        )
        body = request.body
        events = partial(intake.keep_unreadable, partial(telegram_events, body), body)
        intake.receive_signed(channel=found, provider="telegram", refusal=refusal, events=events)
        return HttpResponse("ok", content_type="text/plain")

    return intake.answer(handle)


def telegram_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    return telegram.events_from_update(json.loads(body))


# --- the desk's messaging actions ------------------------------------------------------------------------------


@require_POST
@login_required
def send_template(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    conversation = access.get_conversation_for_action(request.user, pk)
    try:
        interaction = services.send_template(
            conversation=conversation, author=request.user, template_name=request.POST.get("template", "")
        )
    except ValidationError as error:
        context = {"conversation": conversation, "template_errors": error.messages}
        response = render(request, "messaging/composer_notice.html", context, status=422)
        return reswap(retarget(response, "#whatsapp-window"), "outerHTML")
    if not request.htmx:
        return redirect("desk:conversation", pk=pk)
    return render(request, "desk/desk.html#sent", {"conversation": conversation, "item": interaction})


@require_POST
@login_required
def retry_delivery(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    interaction = selectors.get_interaction_for_action(request.user, pk)  # retrying a delivery is acting
    try:
        interaction = services.retry_delivery(interaction=interaction)
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=409, content_type="text/plain")
    if not request.htmx:
        return redirect("desk:conversation", pk=interaction.conversation_id)
    item = Interaction.objects.select_related("author", "customer", "channel").get(pk=interaction.pk)
    return render(request, "desk/desk.html#sent", {"conversation": interaction.conversation, "item": item})
