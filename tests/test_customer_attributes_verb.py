"""One verb edits custom attributes (customers.attributes.update_customer_attributes): the desk and the API agree.

Alice is an agent of the Support team; Carla chats from the website; Marc was merged into Paul by Sophie, a supervisor.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.attributes import update_customer_attributes
from customers.merge import merge_customers
from customers.models import Customer
from tests.clients import logged_in

MERGED_MESSAGE = "This customer was already merged into another one; work with the surviving customer."


def api_for(user: Any) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def edit_on_the_desk(customer: Customer, rows: dict[str, str]) -> Any:
    form = {"key": list(rows), "value": list(rows.values())}
    return logged_in("alice").post(f"/customers/{customer.pk}/attributes/", form, headers={"HX-Request": "true"})


def edit_through_the_api(user: Any, customer: Customer, rows: dict[str, str]) -> Any:
    return api_for(user).patch(f"/api/customers/{customer.pk}/", {"attributes": rows}, format="json")


@pytest.fixture
def marc(sophie: Any) -> Customer:
    """Merged into Paul: his attributes are nobody's any more."""
    marc = Customer.objects.create(display_name="Marc", attributes={"plan": "gold"})
    paul = Customer.objects.create(display_name="Paul")
    merge_customers(source=marc, target=paul, by=sophie)
    marc.refresh_from_db()
    return marc


def test_it_refuses_a_merged_away_customer_on_the_desk(alice: Any, marc: Customer) -> None:
    response = edit_on_the_desk(marc, {"plan": "platinum"})

    assert response.status_code == 422
    assert MERGED_MESSAGE in response.content.decode()
    marc.refresh_from_db()
    assert marc.attributes == {"plan": "gold"}


def test_it_refuses_a_merged_away_customer_through_the_api(alice: Any, marc: Customer) -> None:
    response = edit_through_the_api(alice, marc, {"plan": "platinum"})

    assert response.status_code == 400
    assert response.json() == {"detail": MERGED_MESSAGE, "code": "already_merged", "fields": {}}
    marc.refresh_from_db()
    assert marc.attributes == {"plan": "gold"}


def test_it_refuses_a_merged_away_customer_in_the_service_itself(alice: Any, marc: Customer) -> None:
    with pytest.raises(ValidationError) as refused:
        update_customer_attributes(customer=marc, by=alice, changes={"plan": "platinum"})

    assert refused.value.code == "already_merged"


@pytest.mark.parametrize(
    "rows",
    [
        {"plan": "platinum", "city": "Lyon"},
        {"  plan  ": "platinum", "": "dropped", "note": ""},
    ],
)
def test_it_stores_the_same_attributes_whichever_interface_edits_them(
    alice: Any, carla: Customer, rows: dict[str, str]
) -> None:
    assert edit_on_the_desk(carla, rows).status_code == 200
    carla.refresh_from_db()
    from_the_desk = carla.attributes
    Customer.objects.filter(pk=carla.pk).update(attributes={})

    assert edit_through_the_api(alice, carla, rows).status_code == 200
    carla.refresh_from_db()

    assert carla.attributes == from_the_desk
    assert "" not in from_the_desk
    assert "plan" in from_the_desk


def test_it_refuses_oversized_attributes_with_the_same_message_on_both(alice: Any, carla: Customer) -> None:
    Customer.objects.filter(pk=carla.pk).update(attributes={"plan": "gold"})
    huge = {"notes": "x" * 70_000}

    desk = edit_on_the_desk(carla, huge)
    api = edit_through_the_api(alice, carla, huge)

    assert (desk.status_code, api.status_code) == (422, 400)
    assert api.json()["code"] == "too_large"
    assert list(api.json()["fields"]) == ["attributes"]
    assert api.json()["detail"] in desk.content.decode()
    carla.refresh_from_db()
    assert carla.attributes == {"plan": "gold"}


def test_it_keeps_the_profile_unchanged_when_the_api_refuses_the_attributes(alice: Any, carla: Customer) -> None:
    response = api_for(alice).patch(
        f"/api/customers/{carla.pk}/", {"display_name": "Carla B.", "attributes": {"x": "y" * 70_000}}, format="json"
    )

    assert response.status_code == 400
    carla.refresh_from_db()
    assert carla.display_name == "Carla"
