"""REST API for reshaping cases (split, merge, undo): thin adapters over interactions/case_changes.py."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import access, case_changes, selectors
from interactions.models import CaseChange


class CaseChangeOutput(serializers.ModelSerializer[CaseChange]):
    class Meta:
        model = CaseChange
        fields = ["id", "kind", "source", "target", "interaction_ids", "created_at", "undone_at"]


class CaseMergeInput(serializers.Serializer[Any]):
    into = serializers.IntegerField(help_text="The case that receives every entry of this one.")


# Refusals of the case verbs (django ValidationError) become the one error body in omnidesk.errors: no try here.
class SplitApi(APIView):
    @extend_schema(request=None, responses={201: CaseChangeOutput})
    def post(self, request: Request, pk: int) -> Response:
        entry = selectors.get_interaction_for_action(request.user, pk)
        change = case_changes.split_off(interaction=entry, by=request.user)
        return Response(CaseChangeOutput(change).data, status=status.HTTP_201_CREATED)


class MergeApi(APIView):
    @extend_schema(request=CaseMergeInput, responses={201: CaseChangeOutput})
    def post(self, request: Request, pk: int) -> Response:
        source = access.get_conversation_for_action(request.user, pk)
        data = CaseMergeInput(data=request.data)
        data.is_valid(raise_exception=True)
        target = access.get_conversation_for_action(request.user, data.validated_data["into"])
        change = case_changes.merge_cases(source=source, target=target, by=request.user)
        return Response(CaseChangeOutput(change).data, status=status.HTTP_201_CREATED)


class UndoApi(APIView):
    @extend_schema(request=None, responses=CaseChangeOutput)
    def post(self, request: Request, pk: int) -> Response:
        change = get_object_or_404(CaseChange, pk=pk)
        access.get_conversation_for_action(request.user, change.source_id)
        access.get_conversation_for_action(request.user, change.target_id)
        change = case_changes.undo_case_change(change=change, by=request.user)
        return Response(CaseChangeOutput(change).data)
