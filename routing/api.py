"""Routing REST API: one operation per view, explicit input and output serializers, routing's services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import access
from interactions.models import Channel
from omnidesk.permissions import IsSupervisor
from routing import agents, intents, offers, selectors, services, transfers
from routing.models import AgentProfile, Intent, Offer, Queue, Skill


class QueueOutput(serializers.ModelSerializer[Queue]):
    required_skills: serializers.SlugRelatedField[Skill] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )
    optional_skills: serializers.SlugRelatedField[Skill] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )

    class Meta:
        model = Queue
        fields = [
            "id",
            "name",
            "channel_kinds",
            "required_skills",
            "optional_skills",
            "base_priority",
            "aging_acceleration",
            "mode",
            "offer_timeout_seconds",
            "overflow_queue",
            "overflow_timeout_seconds",
            "timezone",
            "business_hours",
            "holidays",
        ]
        read_only_fields = fields


class SkillOutput(serializers.ModelSerializer[Skill]):
    class Meta:
        model = Skill
        fields = ["id", "name", "description"]
        read_only_fields = fields


class AgentOutput(serializers.ModelSerializer[AgentProfile]):
    username = serializers.CharField(source="user.username")
    is_busy = serializers.BooleanField()
    skills = serializers.SerializerMethodField()

    class Meta:
        model = AgentProfile
        fields = [
            "user",
            "username",
            "role",
            "presence",
            "takes_work",
            "is_busy",
            "chat_capacity",
            "voice_capacity",
            "email_capacity",
            "chat_load",
            "voice_load",
            "email_load",
            "skills",
        ]
        read_only_fields = fields

    def get_skills(self, profile: AgentProfile) -> dict[str, int]:
        return {s.skill.name: s.proficiency for s in profile.skills.select_related("skill")}


class IntentOutput(serializers.ModelSerializer[Intent]):
    required_skills: serializers.SlugRelatedField[Skill] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )

    class Meta:
        model = Intent
        fields = [
            "id",
            "key",
            "name",
            "keywords",
            "examples",
            "queue",
            "required_skills",
            "priority_boost",
            "live_wait_threshold_seconds",
            "solutions",
            "self_service_url",
            "form_url",
            "is_default",
        ]
        read_only_fields = fields


class EwtOutput(serializers.Serializer[Any]):
    queue_id = serializers.IntegerField()
    channel_kind = serializers.CharField()
    position = serializers.IntegerField()
    agents = serializers.IntegerField()
    free_slots = serializers.IntegerField()
    aht_seconds = serializers.FloatField()
    ewt_seconds = serializers.FloatField(allow_null=True)


class PresenceInput(serializers.Serializer[Any]):
    presence = serializers.ChoiceField(choices=[AgentProfile.Presence.AVAILABLE, AgentProfile.Presence.AWAY])


class TakesWorkInput(serializers.Serializer[Any]):
    takes_work = serializers.BooleanField()


class CapacityInput(serializers.Serializer[Any]):
    # Range checks live in the service, which gives the same clear error to every interface.
    chat = serializers.IntegerField(required=False)
    voice = serializers.IntegerField(required=False)
    email = serializers.IntegerField(required=False)


class SkillsInput(serializers.Serializer[Any]):
    skills = serializers.DictField(child=serializers.IntegerField(), help_text="Names → proficiency 1–5.")


class TransferInput(serializers.Serializer[Any]):
    agent = serializers.IntegerField(required=False, allow_null=True)
    queue = serializers.IntegerField(required=False, allow_null=True)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class TransferOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    to_agent = serializers.IntegerField(source="to_agent_id", allow_null=True)
    to_queue = serializers.IntegerField(source="to_queue_id", allow_null=True)
    note = serializers.CharField()


class IntentCorrectionInput(serializers.Serializer[Any]):
    intent = serializers.SlugField()


class OfferOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="item.conversation_id")
    state = serializers.CharField()
    expires_at = serializers.DateTimeField()


class QueueListApi(APIView):
    @extend_schema(operation_id="queues_list", responses=QueueOutput(many=True))
    def get(self, request: Request) -> Response:
        queues = selectors.queues_visible_to(request.user).prefetch_related("required_skills", "optional_skills")
        return Response(QueueOutput(queues.order_by("name"), many=True).data)


class QueueEwtApi(APIView):
    @extend_schema(
        operation_id="queues_ewt",
        parameters=[OpenApiParameter("channel_kind", str, description="chat, email, voice…; default chat")],
        responses=EwtOutput,
    )
    def get(self, request: Request, pk: int) -> Response:
        queue = get_object_or_404(selectors.queues_visible_to(request.user), pk=pk)
        kind = request.query_params.get("channel_kind", Channel.Kind.CHAT)
        if kind not in Channel.Kind.values:
            raise ValidationError({"channel_kind": [f"Unknown channel kind {kind!r}."]})
        return Response(EwtOutput(selectors.estimated_wait(queue, kind)).data)


class SkillListApi(APIView):
    @extend_schema(operation_id="skills_list", responses=SkillOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(SkillOutput(Skill.objects.all(), many=True).data)


class AgentListApi(APIView):
    permission_classes = [IsAuthenticated, IsSupervisor]

    @extend_schema(operation_id="agents_list", responses=AgentOutput(many=True))
    def get(self, request: Request) -> Response:
        agents = AgentProfile.objects.select_related("user").order_by("user__username")
        return Response(AgentOutput(agents, many=True).data)


class MyPresenceApi(APIView):
    @extend_schema(operation_id="agents_me_presence", request=PresenceInput, responses=AgentOutput)
    def post(self, request: Request) -> Response:
        data = PresenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        profile = services.set_presence(user=request.user, presence=data.validated_data["presence"])
        return Response(AgentOutput(profile).data)


class MyTakesWorkApi(APIView):
    permission_classes = [IsAuthenticated, IsSupervisor]  # agents who want no work choose Away

    @extend_schema(operation_id="agents_me_takes_work", request=TakesWorkInput, responses=AgentOutput)
    def post(self, request: Request) -> Response:
        data = TakesWorkInput(data=request.data)
        data.is_valid(raise_exception=True)
        profile = agents.set_takes_work(user=request.user, takes_work=data.validated_data["takes_work"])
        return Response(AgentOutput(profile).data)


def agent_user(pk: int) -> Any:
    return get_object_or_404(get_user_model(), pk=pk, agent_profile__isnull=False)


class AgentCapacityApi(APIView):
    permission_classes = [IsAuthenticated, IsSupervisor]

    @extend_schema(operation_id="agents_capacity", request=CapacityInput, responses=AgentOutput)
    def post(self, request: Request, pk: int) -> Response:
        data = CapacityInput(data=request.data)
        data.is_valid(raise_exception=True)
        profile = agents.set_capacity(user=agent_user(pk), **data.validated_data)
        return Response(AgentOutput(profile).data)


class AgentSkillsApi(APIView):
    permission_classes = [IsAuthenticated, IsSupervisor]

    @extend_schema(operation_id="agents_skills", request=SkillsInput, responses=AgentOutput)
    def post(self, request: Request, pk: int) -> Response:
        data = SkillsInput(data=request.data)
        data.is_valid(raise_exception=True)
        profile = agents.set_skills(user=agent_user(pk), proficiencies=data.validated_data["skills"])
        return Response(AgentOutput(profile).data)


class IntentListApi(APIView):
    @extend_schema(operation_id="intents_list", responses=IntentOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(IntentOutput(Intent.objects.order_by("name"), many=True).data)


class ConversationIntentApi(APIView):
    @extend_schema(operation_id="conversations_intent_correct", request=IntentCorrectionInput, responses=IntentOutput)
    def post(self, request: Request, pk: int) -> Response:
        conversation = access.get_conversation_for_action(request.user, pk)
        data = IntentCorrectionInput(data=request.data)
        data.is_valid(raise_exception=True)
        intent = Intent.objects.filter(key=data.validated_data["intent"]).first()
        if intent is None:
            raise ValidationError({"intent": ["Unknown intent."]})
        intents.correct_intent(conversation=conversation, intent=intent, by=request.user)
        return Response(IntentOutput(intent).data)


class ConversationTransferApi(APIView):
    @extend_schema(operation_id="conversations_transfer", request=TransferInput, responses={201: TransferOutput})
    def post(self, request: Request, pk: int) -> Response:
        conversation = access.get_conversation_for_action(request.user, pk)
        data = TransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        to_agent = agent_user(data.validated_data["agent"]) if data.validated_data.get("agent") else None
        to_queue = None
        if data.validated_data.get("queue"):
            to_queue = Queue.objects.filter(pk=data.validated_data["queue"]).first()
            if to_queue is None:
                raise ValidationError({"queue": ["Unknown queue."]})
        record = transfers.transfer_conversation(
            conversation=conversation,
            by=request.user,
            to_agent=to_agent,
            to_queue=to_queue,
            note=data.validated_data["note"],
        )
        return Response(TransferOutput(record).data, status=201)


def own_offer(request: Request, pk: int) -> Offer:
    try:
        return offers.get_offer_for_agent(request.user, pk)
    except Offer.DoesNotExist:
        raise Http404("No such offer") from None


class OfferAcceptApi(APIView):
    @extend_schema(operation_id="offers_accept", request=None, responses=OfferOutput)
    def post(self, request: Request, pk: int) -> Response:
        offer = offers.accept_offer(offer=own_offer(request, pk), by=request.user)
        return Response(OfferOutput(offer).data)


class OfferDeclineApi(APIView):
    @extend_schema(operation_id="offers_decline", request=None, responses=OfferOutput)
    def post(self, request: Request, pk: int) -> Response:
        offer = offers.decline_offer(offer=own_offer(request, pk), by=request.user)
        return Response(OfferOutput(offer).data)
