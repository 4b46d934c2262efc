"""HTTP adapters of the email channel: the provider webhook and the agent's views of an email."""

from __future__ import annotations

from typing import Any

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from interactions import access
from interactions.mail import display
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, Interaction


class MailgunInboundView(MailgunInboundWebhookView):
    """Anymail's Mailgun inbound view (it verifies the HMAC signature with the channel's signing key); instead of
    sending a signal it stores each message's raw MIME, and answers 200 only after that commit."""

    channel: Channel | None = None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.run_validators(request)
        events = self.parse_events(request)
        assert self.channel is not None
        with transaction.atomic():
            for event in events:
                record_raw_mail(channel=self.channel, raw=event.message.as_bytes(), source="mailgun")
        return HttpResponse("stored")


@csrf_exempt
@require_POST
def mailgun_inbound(request: HttpRequest, channel_uuid: str) -> HttpResponse:
    channel = Channel.objects.filter(uuid=channel_uuid, kind=Channel.Kind.EMAIL, is_active=True).first()
    signing_key = channel.secrets.get("webhook_signing_key") if channel else None
    if channel is None or not signing_key:
        raise Http404("No such channel")
    view = MailgunInboundView.as_view(webhook_signing_key=signing_key, channel=channel)
    try:
        return view(request)
    except AnymailWebhookValidationFailure as error:
        return HttpResponseBadRequest(str(error))


def email_interaction_for_agent(user: Any, pk: int) -> Interaction:
    """The email interaction if `user` may see its conversation; 404 otherwise."""
    interaction = get_object_or_404(Interaction.objects.select_related("channel"), pk=pk)
    access.get_conversation_for_agent(user, interaction.conversation_id)
    return interaction


@require_GET
@login_required
@xframe_options_sameorigin
def email_body(request: HttpRequest, pk: int) -> HttpResponse:
    """The email's HTML part, as the iframe shows it; `?remote=1` when the agent asked for remote images."""
    interaction = email_interaction_for_agent(request.user, pk)
    remote = request.GET.get("remote") == "1"
    context = {"item": interaction, "email": display.email_view(interaction, remote_images=remote)}
    return render(request, "mail/interaction.html#frame", context)
