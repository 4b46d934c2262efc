"""REST API: one operation per view, explicit input and output serializers, the desk's services and lookups."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import access, events, selectors, services
from interactions.models import Channel, Conversation, Interaction


class ConversationOutput(serializers.ModelSerializer[Conversation]):
    customer: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    channel = serializers.CharField(source="channel.kind")

    class Meta:
        model = Conversation
        fields = [
            "id",
            "customer",
            "channel",
            "status",
            "queue",
            "assignee",
            "created_at",
            "last_message_at",
            "first_response_at",
            "resolved_at",
            "priority",
            "snoozed_until",
            "first_response_due_at",
            "next_response_due_at",
            "resolution_due_at",
            "sla_paused_at",
            "sla_warned_at",
            "sla_breached_at",
            "escalated_at",
        ]
        read_only_fields = fields


class ReplyInput(serializers.Serializer[Any]):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    channel = serializers.IntegerField(
        required=False, allow_null=True, help_text="A reply channel of the conversation; default: its own channel."
    )


class ConversationPagination(CursorPagination):
    ordering = "-id"
    page_size = 50


class MessageOutput(serializers.Serializer[Any]):
    """The shape of events.MessageData, for the schema."""

    id = serializers.IntegerField()
    uuid = serializers.CharField(allow_null=True)
    kind = serializers.CharField()
    direction = serializers.CharField()
    author = serializers.CharField()
    channel_label = serializers.CharField(help_text="The entry's own channel, labelled: a case spans channels.")
    text = serializers.CharField()
    at = serializers.CharField()


class TimelineEntryOutput(MessageOutput):
    """A timeline entry (customer timeline and conversation detail alike), as the access rule left it."""

    conversation_id = serializers.IntegerField()
    channel = serializers.CharField(help_text="The channel kind: chat, email, sms…")
    redacted = serializers.BooleanField(
        help_text="A confidential queue's entry the reader is not a member of: metadata only, the text is empty."
    )


def timeline_entry(item: Interaction) -> dict[str, Any]:
    """A timeline entry as the access rule left it: `redacted` entries (a confidential queue's) carry no text."""
    return {
        **events.message_data(item),
        "conversation_id": item.conversation_id,
        "channel": item.channel.kind,
        "redacted": bool(getattr(item, "redacted", False)),
    }


class ConversationListApi(APIView):
    @extend_schema(
        operation_id="conversations_list",
        parameters=[
            inline_serializer(name="ConversationFilter", fields={"status": serializers.CharField(required=False)})
        ],
        responses=inline_serializer(
            name="ConversationPage",
            fields={
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": ConversationOutput(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        conversations = access.conversations_visible_to(request.user).select_related("customer", "channel")
        if status_filter := request.query_params.get("status"):
            conversations = conversations.filter(status=status_filter)
        paginator = ConversationPagination()
        page = paginator.paginate_queryset(conversations, request, view=self)
        return paginator.get_paginated_response(ConversationOutput(page, many=True).data)


class ConversationDetailApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            name="ConversationDetail",
            fields={
                "conversation": ConversationOutput(),
                "may_act": serializers.BooleanField(),
                "timeline": TimelineEntryOutput(many=True),
            },
        )
    )
    def get(self, request: Request, pk: int) -> Response:
        conversation = access.get_conversation_for_agent(request.user, pk)
        timeline = selectors.customer_timeline_for(request.user, conversation.customer, limit=100)
        return Response(
            {
                "conversation": ConversationOutput(conversation).data,
                "may_act": access.may_act_on(request.user, conversation),
                "timeline": [timeline_entry(item) for item in timeline],
            }
        )


class ConversationReplyApi(APIView):
    @extend_schema(request=ReplyInput, responses={201: MessageOutput})
    def post(self, request: Request, pk: int) -> Response:
        conversation = access.get_conversation_for_action(request.user, pk)
        data = ReplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            channel = selectors.get_reply_channel(conversation, data.validated_data.get("channel"), request.user)
        except Channel.DoesNotExist:
            raise ValidationError({"channel": ["Not a reply channel of this conversation."]}) from None
        reply = services.reply_to_conversation(
            conversation=conversation, author=request.user, text=data.validated_data["text"], channel=channel
        )
        return Response(events.message_data(reply), status=status.HTTP_201_CREATED)


class ConversationResolveApi(APIView):
    @extend_schema(request=None, responses=ConversationOutput)
    def post(self, request: Request, pk: int) -> Response:
        conversation = access.get_conversation_for_action(request.user, pk)
        conversation = services.resolve_conversation(conversation=conversation, by=request.user)
        return Response(ConversationOutput(conversation).data)


class StatusInput(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    snoozed_until = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Required for `snoozed`: when the conversation reopens."
    )


class ConversationStatusApi(APIView):
    @extend_schema(request=StatusInput, responses=ConversationOutput)
    def post(self, request: Request, pk: int) -> Response:
        conversation = access.get_conversation_for_action(request.user, pk)
        data = StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.set_conversation_status(
            conversation=conversation,
            status=data.validated_data["status"],
            by=request.user,
            snoozed_until=data.validated_data.get("snoozed_until"),
        )
        return Response(ConversationOutput(conversation).data)
