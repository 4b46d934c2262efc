"""The phone channel's HTTP interfaces: the provider webhooks and the REST API. Thin adapters over the services."""

from __future__ import annotations

import json
from typing import Any, cast
from uuid import UUID

from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import selectors as customer_selectors
from interactions import access, intake
from interactions.models import Channel
from interactions.phone import actions, callbacks, cti, dialer, selectors
from interactions.phone.models import Call, Callback
from omnidesk.permissions import IsSupervisor

CTI_HEADERS = [
    OpenApiParameter(cti.TIMESTAMP_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
    OpenApiParameter(
        cti.SIGNATURE_HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description='"sha256=" + hex HMAC-SHA256(channel CTI secret, "<timestamp>." + raw body)',
    ),
]


def voice_channel(uuid: UUID) -> Channel:
    return get_object_or_404(Channel, uuid=uuid, kind=Channel.Kind.VOICE, is_active=True)


class CtiEventInput(serializers.Serializer[Any]):
    event = serializers.ChoiceField(choices=cti.EVENTS)
    call_id = serializers.CharField(max_length=150)
    at = serializers.DateTimeField(required=False, help_text="When it happened (default: when we received it).")
    event_id = serializers.CharField(
        max_length=40, required=False, help_text="The provider's id of this event (tells repeated holds apart)."
    )
    direction = serializers.ChoiceField(choices=["inbound", "outbound", "in", "out"], default="inbound")
    from_ = serializers.CharField(max_length=64, required=False, allow_blank=True, help_text="Caller number.")
    to = serializers.CharField(max_length=64, required=False, allow_blank=True, help_text="Called number.")
    agent = serializers.CharField(
        max_length=150, required=False, allow_blank=True, help_text="Target agent: username or user id."
    )
    extension = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text='Target extension (channel config "extensions").'
    )
    queue = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="Queue name.")
    cause = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Hang-up cause: voicemail, abandoned, no_answer…"
    )
    intent = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="IVR choice.")
    recording_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # "from" is a Python keyword
        return fields


class StoredOutput(serializers.Serializer[Any]):
    stored = serializers.BooleanField(help_text="False when this event had been received already (a retry).")
    event = serializers.CharField()


class CtiWebhookApi(APIView):
    """Generic CTI: any PBX or telephony provider posts its call events here."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="cti_event",
        request=CtiEventInput,
        responses={202: StoredOutput},
        parameters=CTI_HEADERS,
        description="Call events (ringing, answered, hold, resumed, transferred, hangup). Stored once per call id "
        "and event, then applied whatever their order of arrival.",
    )
    def post(self, request: Request, channel: UUID) -> Response:
        body = request.body
        with intake.storage_guard():  # refused or unavailable: answered by omnidesk.errors (403, 503)
            voice = voice_channel(channel)
            refusal = intake.check_timestamped(
                secret=(voice.secrets or {}).get("cti_secret", ""),
                timestamp=request.headers.get(cti.TIMESTAMP_HEADER),
                signature=request.headers.get(cti.SIGNATURE_HEADER),
                body=body,
                window=cti.SIGNATURE_WINDOW_SECONDS,
            )
            if refusal:
                raise intake.refuse(channel=voice, provider="cti", reason=refusal)
        try:
            raw = json.loads(body)
        except ValueError:
            raise ParseError("the body must be a JSON object") from None
        serializer = CtiEventInput(data=raw)
        serializer.is_valid(raise_exception=True)
        received_at = timezone.now().isoformat()
        payload = {**raw, "received_at": received_at}
        data = serializer.validated_data
        # Without its own time or id, a repeatable event (a second hold) is told apart by when it came.
        key = cti.store_key(
            call_id=data["call_id"],
            event=data["event"],
            event_id=data.get("event_id", ""),
            at=str(raw.get("at") or received_at),
        )
        created = intake.receive_signed(channel=voice, provider="cti", refusal="", events=lambda: [(key, payload)])
        return Response({"stored": bool(created), "event": key}, status=status.HTTP_202_ACCEPTED)


class TwilioVoiceWebhookApi(APIView):
    """Twilio Voice status callbacks (StatusCallback URL of the number or of the API call)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser]

    @extend_schema(
        operation_id="twilio_voice_status",
        request={"application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={204: None},
        parameters=[OpenApiParameter(cti.TWILIO_SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER)],
    )
    def post(self, request: Request, channel: UUID) -> Response:
        form = cast(QueryDict, request.data)  # FormParser only: repeated parameters kept
        params = [(name, str(value)) for name in form for value in form.getlist(name)]
        with intake.storage_guard():
            voice = voice_channel(channel)
            refusal = intake.check_twilio(
                auth_token=(voice.secrets or {}).get("twilio_auth_token", ""),
                urls=intake.twilio_urls(channel=voice, request=request._request),
                params=params,
                signature=request.headers.get(cti.TWILIO_SIGNATURE_HEADER),
            )
            if refusal:
                raise intake.refuse(channel=voice, provider="twilio_voice", reason=refusal)
        fields = dict(params)
        event = cti.twilio_event_name(fields)
        if event is None or not fields.get("CallSid"):
            raise ValidationError("a CallSid and a known CallStatus are required", code="unknown_call_status")
        key = cti.store_key(call_id=fields["CallSid"], event=event, event_id=fields.get("SequenceNumber", ""))
        payload = {**fields, "received_at": timezone.now().isoformat()}
        intake.receive_signed(channel=voice, provider="twilio_voice", refusal="", events=lambda: [(key, payload)])
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- agents ----------------------------------------------------------------------------------------------------------


class CallOutput(serializers.ModelSerializer[Call]):
    class Meta:
        model = Call
        fields = [
            "id",
            "call_id",
            "direction",
            "number",
            "customer",
            "conversation",
            "agent",
            "state",
            "result",
            "ringing_at",
            "answered_at",
            "ended_at",
            "wrap_up_ended_at",
            "notes",
            "linked_conversation",
            "link_status",
        ]
        read_only_fields = fields


class WrapUpInput(serializers.Serializer[Any]):
    disposition = serializers.CharField(allow_blank=True, help_text="A disposition code.")
    notes = serializers.CharField(required=False, allow_blank=True)


class CallWrapUpApi(APIView):
    @extend_schema(operation_id="call_wrap_up", request=WrapUpInput, responses=CallOutput)
    def post(self, request: Request, pk: int) -> Response:
        call = selectors.get_call_for_action(request.user, pk)
        data = validated(WrapUpInput, request)
        call = actions.end_after_call_work(
            call=call, by=request.user, disposition=data["disposition"], notes=data.get("notes")
        )
        return Response(CallOutput(call).data)


class NotesInput(serializers.Serializer[Any]):
    notes = serializers.CharField(allow_blank=True)


class CallNotesApi(APIView):
    @extend_schema(operation_id="call_notes", request=NotesInput, responses=CallOutput)
    def post(self, request: Request, pk: int) -> Response:
        call = selectors.get_call_for_action(request.user, pk)
        call = actions.save_call_notes(call=call, by=request.user, notes=validated(NotesInput, request)["notes"])
        return Response(CallOutput(call).data)


class LinkInput(serializers.Serializer[Any]):
    confirm = serializers.BooleanField(help_text="True: the call is about the linked case. False: unlink it.")


class CallLinkApi(APIView):
    @extend_schema(operation_id="call_case_link", request=LinkInput, responses=CallOutput)
    def post(self, request: Request, pk: int) -> Response:
        call = selectors.get_call_for_action(request.user, pk)
        call = actions.decide_case_link(call=call, by=request.user, confirm=validated(LinkInput, request)["confirm"])
        return Response(CallOutput(call).data)


class ClickToCallInput(serializers.Serializer[Any]):
    customer = serializers.IntegerField()
    number = serializers.CharField(required=False, allow_blank=True, help_text="Default: the customer's phone.")
    channel = serializers.IntegerField(
        required=False, help_text="A phone channel; default: the first with an endpoint."
    )


class ClickToCallApi(APIView):
    @extend_schema(operation_id="click_to_call", request=ClickToCallInput, responses={202: CallOutput})
    def post(self, request: Request) -> Response:
        data = validated(ClickToCallInput, request)
        customer = customer_selectors.get_customer_for_agent(request.user, data["customer"])
        # Dialing through a channel speaks with its number: only a channel of the agent's own queues.
        channel = selectors.dialing_channel_for(request.user, data.get("channel"))
        call = dialer.place_call(agent=request.user, customer=customer, number=data.get("number"), channel=channel)
        return Response(CallOutput(call).data, status=status.HTTP_202_ACCEPTED)


class CallbackOutput(serializers.ModelSerializer[Callback]):
    class Meta:
        model = Callback
        fields = [
            "id",
            "customer",
            "number",
            "reason",
            "window_start",
            "window_end",
            "next_attempt_at",
            "attempts",
            "max_attempts",
            "status",
            "outcome",
            "conversation",
        ]
        read_only_fields = fields


class CallbackInput(serializers.Serializer[Any]):
    number = serializers.CharField(max_length=64, help_text="Any format; national numbers read in the default region.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    window_start = serializers.DateTimeField(required=False)
    window_end = serializers.DateTimeField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    channel = serializers.IntegerField(required=False, help_text="A phone channel; default: the first active one.")


class CallbackCreateApi(APIView):
    @extend_schema(operation_id="callback_create", request=CallbackInput, responses={201: CallbackOutput})
    def post(self, request: Request) -> Response:
        """A callback to `number`, through a phone channel whose queue the caller may act on.

        The rule (issue 11): the number is looked up among the customers' phone identities and the callback attaches
        to that customer, or to a new one; every active agent may look customers up, so that reveals nothing they
        could not see. What it must never do is put work about anyone into a queue the caller is not a member of:
        the channel is one of the caller's queues' phone channels (supervisors: any), an explicit other channel is
        refused with 403, and nothing is disclosed about the customer beyond the created callback (its `customer` id,
        which any agent may open). An existing customer's name is never changed by `name`.
        """
        data = validated(CallbackInput, request)
        voice = Channel.objects.filter(kind=Channel.Kind.VOICE, is_active=True).order_by("pk")
        if data.get("channel"):
            channel = voice.filter(pk=data["channel"]).first()
            if channel is None:
                raise ValidationError({"channel": [_("Not an active phone channel.")]})
            if not access.may_act_on_queue(request.user, channel.queue_id):
                raise PermissionDenied(_("You may only schedule callbacks in your own queues."))
        else:
            channel = voice.filter(pk__in=access.channels_actionable_by(request.user).values("pk")).first()
        if channel is None:
            raise ValidationError(
                {"code": "no_channel", "detail": _("None of your queues has an active phone channel.")}
            )
        callback = callbacks.request_callback(
            channel=channel,
            number=data["number"],
            name=data.get("name", ""),
            window_start=data.get("window_start"),
            window_end=data.get("window_end"),
            note=data.get("note", ""),
            by=request.user,
        )
        return Response(CallbackOutput(callback).data, status=status.HTTP_201_CREATED)


class OutcomeInput(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=Callback.Outcome.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class CallbackOutcomeApi(APIView):
    @extend_schema(operation_id="callback_outcome", request=OutcomeInput, responses=CallbackOutput)
    def post(self, request: Request, pk: int) -> Response:
        callback = selectors.get_callback_for_agent(request.user, pk)
        data = validated(OutcomeInput, request)
        callback = callbacks.record_callback_outcome(
            callback=callback, outcome=data["outcome"], by=request.user, note=data.get("note", "")
        )
        return Response(CallbackOutput(callback).data)


class AgentCallStatesApi(APIView):
    permission_classes = [IsAuthenticated, IsSupervisor]

    @extend_schema(
        operation_id="agent_call_states",
        responses=inline_serializer(
            name="AgentCallStates", fields={"states": serializers.DictField(child=serializers.CharField())}
        ),
        description="Supervisors: each agent's telephone state (ringing, on_call, wrap_up), keyed by user id.",
    )
    def get(self, request: Request) -> Response:
        return Response({"states": {str(k): v for k, v in selectors.agent_call_states().items()}})


def validated(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
