"""Input and output shapes of the customers API. Input serializers only validate: the writes are customers.records'."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Customer, Identity, MergeRecord, Organization
from customers.selectors import customers_visible_to
from customers.services import normalize_address
from interactions.api import TimelineEntryOutput


def attributes_field() -> serializers.DictField:
    """Custom attributes: string values, as edited on the desk (customers.profile.clean_attributes)."""
    return serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False)


class IdentityInput(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Identity.Kind.choices)
    address = serializers.CharField(max_length=320, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Only a check, naming the field; customers.records normalizes again when it stores the address.
        try:
            normalize_address(attrs["kind"], attrs["address"])
        except DjangoValidationError as error:
            raise serializers.ValidationError({"address": error.messages}) from error
        return attrs


class IdentityOutput(serializers.ModelSerializer[Identity]):
    class Meta:
        model = Identity
        fields = ["id", "kind", "address", "verified", "created_at"]
        read_only_fields = fields


class CustomerInput(serializers.ModelSerializer[Customer]):
    """The writable profile fields; anything else in the body (id, merged_into, timestamps…) is ignored."""

    attributes = attributes_field()

    class Meta:
        model = Customer
        fields = ["display_name", "language", "organization", "segment", "value_tier", "attributes"]


class CustomerCreateInput(CustomerInput):
    identities = IdentityInput(many=True, required=False)

    class Meta(CustomerInput.Meta):
        fields = [*CustomerInput.Meta.fields, "identities"]


class CustomerOutput(serializers.ModelSerializer[Customer]):
    identities = IdentityOutput(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "display_name",
            "language",
            "organization",
            "segment",
            "value_tier",
            "attributes",
            "identities",
            "merged_into",
            "merged_at",
            "erased_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CustomerFilter(serializers.Serializer[Any]):
    organization = serializers.IntegerField(required=False, help_text="Organization id.")
    segment = serializers.CharField(required=False)
    value_tier = serializers.ChoiceField(choices=Customer.ValueTier.choices, required=False)
    q = serializers.CharField(required=False, help_text="Name, email address or phone number (any format).")


class CustomerPageOutput(serializers.Serializer[Any]):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CustomerOutput(many=True)


class IdentityTakenOutput(serializers.Serializer[Any]):
    """Which customer owns the address is not said: look it up through search, which the access rule governs."""

    detail = serializers.CharField()
    code = serializers.CharField(help_text="Always `identity_taken`.")


class TimelinePageOutput(serializers.Serializer[Any]):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, with ?before=<last id>.")
    results = TimelineEntryOutput(many=True)


@extend_schema_field(OpenApiTypes.INT)
class VisibleCustomerField(serializers.PrimaryKeyRelatedField[Customer]):
    """A customer id, among those the requesting user may see: others read as nonexistent."""

    def get_queryset(self) -> QuerySet[Customer]:
        return customers_visible_to(self.context["request"].user)


class MergeInput(serializers.Serializer[Any]):
    """Needs the request in its context."""

    into = VisibleCustomerField(help_text="The surviving customer.")


class MergeRecordOutput(serializers.ModelSerializer[MergeRecord]):
    class Meta:
        model = MergeRecord
        fields = ["id", "source", "target", "merged_at", "unmerged_at"]
        read_only_fields = fields


class OrganizationInput(serializers.ModelSerializer[Organization]):
    attributes = attributes_field()

    class Meta:
        model = Organization
        fields = ["name", "domain", "attributes"]


class OrganizationOutput(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["id", "name", "domain", "attributes", "created_at", "updated_at"]
        read_only_fields = fields


class OrganizationPageOutput(serializers.Serializer[Any]):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = OrganizationOutput(many=True)


class TimelineQuery(serializers.Serializer[Any]):
    before = serializers.IntegerField(
        required=False, min_value=1, help_text="Only interactions older than this interaction id (the next page)."
    )
