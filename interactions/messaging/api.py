"""The API channel's webhook as a DRF view, so that it is documented in the OpenAPI schema (/api/schema/)."""

from __future__ import annotations

import json
from uuid import UUID

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import intake
from interactions.messaging.api_channel import AcceptedSerializer, InboundMessageSerializer, event_from_data
from interactions.messaging.webhooks import get_webhook_channel


class ApiChannelWebhookApi(APIView):
    """Signed by HMAC, not by a user session or token: no DRF authentication, no CSRF."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    @extend_schema(
        operation_id="api_channel_receive",
        tags=["API channel"],
        summary="Send a customer's message (or a delivery status) into omnidesk",
        description=(
            "Sign each request: `X-Omnidesk-Timestamp` is the Unix time in seconds and `X-Omnidesk-Signature` is "
            '`sha256=` + hex HMAC-SHA256(channel signing secret, timestamp + "." + raw body). Requests more than '
            "5 minutes old are refused as replays. The message `id` is the deduplication key: sending the same id "
            "again answers 200 with `accepted: 0` and changes nothing. A 503 means: retry later."
        ),
        parameters=[
            OpenApiParameter("X-Omnidesk-Timestamp", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-Omnidesk-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
        request=InboundMessageSerializer,
        responses={
            200: AcceptedSerializer,
            400: OpenApiResponse(description="The body is not a valid message; nothing was stored."),
            403: OpenApiResponse(description="Missing, wrong or stale signature; nothing was stored."),
            404: OpenApiResponse(description="No active API channel has this id."),
            503: OpenApiResponse(description="Storage unavailable: retry later."),
        },
        examples=[
            OpenApiExample(
                "A message",
                value={"id": "msg-1001", "from": {"id": "user-42", "name": "Jeanne Martin"}, "text": "Hello"},
                request_only=True,
            ),
            OpenApiExample(
                "A delivery status",
                value={"type": "status", "message_id": "out-77", "status": "delivered"},
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request, channel: UUID) -> Response:
        if refused := intake.too_large(request._request):
            return Response({"detail": refused.content.decode().strip()}, status=refused.status_code)
        body = request._request.body  # the raw bytes, exactly as signed
        # Refused or unavailable: WebhookRefused (403) and StorageUnavailable (503) answered by omnidesk.errors.
        with intake.storage_guard():
            found = get_webhook_channel(provider="api", uuid=channel)
            refusal = intake.check_timestamped(
                secret=str(found.secrets.get("signing_secret", "")),
                timestamp=request.headers.get("X-Omnidesk-Timestamp"),
                body=body,
                signature=request.headers.get("X-Omnidesk-Signature"),
                window=settings.OMNIDESK_API_CHANNEL_REPLAY_WINDOW,
            )
            if refusal:
                raise intake.refuse(channel=found, provider="api", reason=refusal)
        try:
            data = json.loads(body)
        except ValueError:  # UnicodeDecodeError included
            raise ParseError("The body is not JSON.") from None
        serializer = InboundMessageSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        event = event_from_data(json.loads(json.dumps(serializer.validated_data)))
        created = intake.receive_signed(channel=found, provider="api", refusal="", events=lambda: [event])
        return Response({"accepted": created})
