"""Customers REST API: one operation per method, explicit input and output serializers, customers.records' services.

Every lookup goes through customers.selectors, so the API shows exactly the customers the desk shows: an agent gets a
404 for a customer they may not see, never a hint that it exists.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from customers import records, serializers
from customers.merge import merge_customers, unmerge_customers
from customers.models import Customer, Organization
from customers.selectors import (
    customers_visible_to,
    get_active_merge_for_agent,
    get_customer_for_agent,
    identities_of,
    search_customers,
)
from interactions.api import timeline_entry
from interactions.selectors import customer_timeline_for
from omnidesk.errors import Conflict
from omnidesk.permissions import IsSupervisorToChange

TIMELINE_PAGE_SIZE = 50
# ?q= narrows the list to this many best matches, which are then paginated like the rest.
SEARCH_LIMIT = 500


class CustomerPagination(CursorPagination):
    ordering = "-id"
    page_size = 50


class OrganizationPagination(CursorPagination):
    ordering = "name"
    page_size = 50


def _identity_taken(error: records.IdentityTaken) -> Conflict:
    """409 without the owner's id: an address must not become a way to find out whose it is (look the customer up
    through search instead, which the access rule governs)."""
    return Conflict(_("This address already belongs to another customer."), code="identity_taken")


def _customer_output(customer: Customer) -> dict[str, Any]:
    customer = Customer.objects.prefetch_related("identities").get(pk=customer.pk)
    return serializers.CustomerOutput(customer).data


class CustomerListApi(APIView):
    @extend_schema(
        operation_id="customers_list", parameters=[serializers.CustomerFilter], responses=serializers.CustomerPageOutput
    )
    def get(self, request: Request) -> Response:
        filters = serializers.CustomerFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        customers: QuerySet[Customer] = customers_visible_to(request.user).prefetch_related("identities")
        if "organization" in params:
            customers = customers.filter(organization_id=params["organization"])
        if "segment" in params:
            customers = customers.filter(segment=params["segment"])
        if "value_tier" in params:
            customers = customers.filter(value_tier=params["value_tier"])
        if "q" in params:
            found = search_customers(request.user, params["q"], limit=SEARCH_LIMIT)
            customers = customers.filter(pk__in=[customer.pk for customer in found])
        paginator = CustomerPagination()
        page = paginator.paginate_queryset(customers, request, view=self)
        return paginator.get_paginated_response(serializers.CustomerOutput(page, many=True).data)

    @extend_schema(
        request=serializers.CustomerCreateInput,
        responses={
            201: serializers.CustomerOutput,
            409: OpenApiResponse(
                serializers.IdentityTakenOutput, description="An address belongs to another customer."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = serializers.CustomerCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            customer = records.create_customer(**data.validated_data, by=request.user)
        except records.IdentityTaken as error:
            raise _identity_taken(error) from None
        return Response(_customer_output(customer), status=status.HTTP_201_CREATED)


class CustomerDetailApi(APIView):
    @extend_schema(responses=serializers.CustomerOutput)
    def get(self, request: Request, pk: int) -> Response:
        customer = get_customer_for_agent(request.user, pk)
        return Response(_customer_output(customer))

    @extend_schema(request=serializers.CustomerInput, responses=serializers.CustomerOutput)
    def patch(self, request: Request, pk: int) -> Response:
        customer = get_customer_for_agent(request.user, pk)
        data = serializers.CustomerInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        customer = records.update_customer(customer=customer, **data.validated_data, by=request.user)
        return Response(_customer_output(customer))


class CustomerIdentitiesApi(APIView):
    @extend_schema(responses=serializers.IdentityOutput(many=True))
    def get(self, request: Request, pk: int) -> Response:
        customer = get_customer_for_agent(request.user, pk)
        return Response(serializers.IdentityOutput(identities_of(customer), many=True).data)

    @extend_schema(
        request=serializers.IdentityInput,
        responses={
            200: OpenApiResponse(serializers.IdentityOutput, description="The customer already had this identity."),
            201: serializers.IdentityOutput,
            409: OpenApiResponse(
                serializers.IdentityTakenOutput, description="The address belongs to another customer."
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        customer = get_customer_for_agent(request.user, pk)
        data = serializers.IdentityInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            identity, created = records.add_identity(customer=customer, **data.validated_data, by=request.user)
        except records.IdentityTaken as error:
            raise _identity_taken(error) from None
        return Response(
            serializers.IdentityOutput(identity).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class CustomerTimelineApi(APIView):
    @extend_schema(parameters=[serializers.TimelineQuery], responses=serializers.TimelinePageOutput)
    def get(self, request: Request, pk: int) -> Response:
        customer = get_customer_for_agent(request.user, pk)
        query = serializers.TimelineQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        # One more than a page tells whether an older page exists without a count.
        interactions = customer_timeline_for(
            request.user, customer, before=query.validated_data.get("before"), limit=TIMELINE_PAGE_SIZE + 1
        )
        page = interactions[:TIMELINE_PAGE_SIZE]
        next_url = None
        if len(interactions) > TIMELINE_PAGE_SIZE:
            next_url = replace_query_param(request.build_absolute_uri(), "before", page[-1].pk)
        results = [timeline_entry(interaction) for interaction in page]
        return Response({"next": next_url, "results": serializers.TimelineEntryOutput(results, many=True).data})


class CustomerMergeApi(APIView):
    @extend_schema(
        request=serializers.MergeInput,
        responses=serializers.MergeRecordOutput,
        description="Merge this customer into `into` (supervisors only); returns the record that allows undoing it.",
    )
    def post(self, request: Request, pk: int) -> Response:
        source = get_customer_for_agent(request.user, pk)
        data = serializers.MergeInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        record = merge_customers(source=source, target=data.validated_data["into"], by=request.user)
        return Response(serializers.MergeRecordOutput(record).data)


class CustomerUnmergeApi(APIView):
    @extend_schema(
        request=None,
        responses=serializers.MergeRecordOutput,
        description="Undo the latest merge of this customer into another (supervisors only).",
    )
    def post(self, request: Request, pk: int) -> Response:
        record = get_active_merge_for_agent(request.user, pk)
        if record is None:
            raise ValidationError({"non_field_errors": [_("This customer has no merge to undo.")]}, code="not_merged")
        unmerge_customers(record=record, by=request.user)
        return Response(serializers.MergeRecordOutput(record).data)


class OrganizationListApi(APIView):
    permission_classes = [IsAuthenticated, IsSupervisorToChange]

    @extend_schema(operation_id="organizations_list", responses=serializers.OrganizationPageOutput)
    def get(self, request: Request) -> Response:
        paginator = OrganizationPagination()
        page = paginator.paginate_queryset(Organization.objects.all(), request, view=self)
        return paginator.get_paginated_response(serializers.OrganizationOutput(page, many=True).data)

    @extend_schema(request=serializers.OrganizationInput, responses={201: serializers.OrganizationOutput})
    def post(self, request: Request) -> Response:
        data = serializers.OrganizationInput(data=request.data)
        data.is_valid(raise_exception=True)
        organization = records.create_organization(**data.validated_data, by=request.user)
        return Response(serializers.OrganizationOutput(organization).data, status=status.HTTP_201_CREATED)


class OrganizationDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsSupervisorToChange]

    @extend_schema(responses=serializers.OrganizationOutput)
    def get(self, request: Request, pk: int) -> Response:
        organization = get_object_or_404(Organization, pk=pk)
        return Response(serializers.OrganizationOutput(organization).data)

    @extend_schema(request=serializers.OrganizationInput, responses=serializers.OrganizationOutput)
    def patch(self, request: Request, pk: int) -> Response:
        organization = get_object_or_404(Organization, pk=pk)
        # The instance lets the uniqueness check of `name` leave the organization itself out; nothing is saved here.
        data = serializers.OrganizationInput(organization, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        organization = records.update_organization(organization=organization, **data.validated_data, by=request.user)
        return Response(serializers.OrganizationOutput(organization).data)
