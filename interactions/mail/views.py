"""HTTP adapters of the email channel: the provider webhook and the agent's views of an email."""

from __future__ import annotations

from functools import partial
from typing import Any

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from interactions import intake, selectors
from interactions.mail import display, webhooks
from interactions.mail.parsing import external_id_for
from interactions.mail.services import record_raw_mail
from interactions.models import Channel


class MailgunInboundView(MailgunInboundWebhookView):
    """Anymail's Mailgun inbound view; instead of sending a signal it stores each message's raw MIME, and answers
    200 only after that commit. The signature, its age, the token and the recipient are checked before this runs
    (`mailgun_inbound`); the token is marked used in the same transaction as the message is stored."""

    channel: Channel | None = None
    token: str = ""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.run_validators(request)
        events = self.parse_events(request)
        assert self.channel is not None
        raws = [event.message.as_bytes() for event in events if event.message is not None]
        try:
            with transaction.atomic():  # a refused token rolls back whatever was stored with it
                webhooks.use_token(
                    channel=self.channel, token=self.token, external_id=external_id_for(raws[0]) if raws else ""
                )
                for raw in raws:
                    record_raw_mail(channel=self.channel, raw=raw, source="mailgun")
        except webhooks.WebhookRefused as error:
            raise intake.refuse(channel=self.channel, provider="mailgun", reason=str(error)) from None
        return HttpResponse("stored")


@csrf_exempt
@require_POST
def mailgun_inbound(request: HttpRequest, channel_uuid: str) -> HttpResponse:
    return intake.answer(partial(receive_mailgun, request, channel_uuid))  # counted 403s, 503 when the database is down


def receive_mailgun(request: HttpRequest, channel_uuid: str) -> HttpResponse:
    channel = Channel.objects.filter(uuid=channel_uuid, kind=Channel.Kind.EMAIL, is_active=True).first()
    signing_key = channel.secrets.get("webhook_signing_key") if channel else None
    if channel is None or not signing_key:
        raise Http404("No such channel")
    try:
        token = webhooks.verify_mailgun_signature(channel=channel, form=request.POST, signing_key=str(signing_key))
        webhooks.verify_recipient(channel=channel, recipient=str(request.POST.get("recipient", "") or ""))
    except webhooks.WebhookRefused as error:
        raise intake.refuse(channel=channel, provider="mailgun", reason=str(error)) from None
    view = MailgunInboundView.as_view(webhook_signing_key=signing_key, channel=channel, token=token)
    try:
        return view(request)
    except AnymailWebhookValidationFailure as error:
        raise intake.refuse(channel=channel, provider="mailgun", reason=str(error)) from None


@require_GET
@login_required
@xframe_options_sameorigin
def email_body(request: HttpRequest, pk: int) -> HttpResponse:
    """The email's HTML part, as the iframe shows it; `?remote=1` when the agent asked for remote images."""
    interaction = selectors.get_interaction_for_agent(request.user, pk)
    remote = request.GET.get("remote") == "1"
    context = {"item": interaction, "email": display.email_view(interaction, remote_images=remote)}
    return render(request, "mail/interaction.html#frame", context)
