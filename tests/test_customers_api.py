"""The customers API: the same visibility, identity rules and merge services as the desk.

Alice is an agent of the Support team, Oscar an agent of Billing, Sophie a supervisor; Carla chats from the website.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.models import Customer, Identity, MergeRecord, Organization
from interactions.models import Channel, Interaction
from tests.factories import widget_message


def api_for(user: Any) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def chatting_customer(channel: Channel, name: str) -> Customer:
    """A customer with one conversation on the Support team's website chat (so visible to Alice)."""
    customer = widget_message(channel, text=f"Bonjour, c'est {name}").customer
    customer.display_name = name
    customer.save(update_fields=["display_name"])
    return customer


def add_messages(customer: Customer, count: int) -> None:
    conversation = customer.conversations.get()
    Interaction.objects.bulk_create(
        Interaction(
            conversation=conversation,
            customer=customer,
            channel=conversation.channel,
            direction=Interaction.Direction.INBOUND,
            text=f"message {n}",
        )
        for n in range(count)
    )


def timeline_ids(client: APIClient, customer: Customer) -> list[int]:
    ids: list[int] = []
    url: str | None = f"/api/customers/{customer.pk}/timeline/"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        ids += [item["id"] for item in response.json()["results"]]
        url = response.json()["next"]
    return ids


def test_it_lists_every_customer_to_every_active_agent(
    alice: Any, oscar: Any, sophie: Any, chat_channel: Channel, carla: Customer
) -> None:
    """Issue 11 changed this test (it was: an agent lists only the customers of their queues): no silos."""
    juliette = chatting_customer(chat_channel, "Juliette")
    for user in (alice, oscar, sophie):
        assert {c["id"] for c in api_for(user).get("/api/customers/").json()["results"]} == {juliette.pk, carla.pk}
    assert api_for(oscar).get(f"/api/customers/{juliette.pk}/").status_code == 200
    timeline = api_for(oscar).get(f"/api/customers/{juliette.pk}/timeline/")
    assert timeline.status_code == 200
    assert [entry["redacted"] for entry in timeline.json()["results"]] == [False]


def test_it_filters_and_searches_the_list(sophie: Any, carla: Customer) -> None:
    acme = Organization.objects.create(name="Acme")
    marc = Customer.objects.create(display_name="Marc", organization=acme, segment="retail", value_tier="gold")
    Identity.objects.create(customer=marc, kind=Identity.Kind.PHONE, address="+33612345678")
    client = api_for(sophie)

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/customers/?{query}")
        assert response.status_code == 200
        return [c["id"] for c in response.json()["results"]]

    assert ids(f"organization={acme.pk}") == [marc.pk]
    assert ids("segment=retail") == [marc.pk]
    assert ids("value_tier=gold") == [marc.pk]
    assert ids("value_tier=standard") == [carla.pk]
    assert ids("q=06%2012%2034%2056%2078") == [marc.pk]
    assert ids("q=carla") == [carla.pk]
    assert client.get("/api/customers/?value_tier=platinum").status_code == 400


def test_it_creates_a_customer_with_normalized_identities(sophie: Any) -> None:
    acme = Organization.objects.create(name="Acme")
    response = api_for(sophie).post(
        "/api/customers/",
        {
            "display_name": "Marc",
            "language": "fr",
            "organization": acme.pk,
            "segment": "retail",
            "value_tier": "vip",
            "attributes": {"plan": "pro"},
            "identities": [
                {"kind": "phone", "address": "06 12 34 56 78"},
                {"kind": "email", "address": "Marc@Shop.FR"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    marc = Customer.objects.get(pk=body["id"])
    assert (marc.display_name, marc.organization, marc.value_tier, marc.attributes) == (
        "Marc",
        acme,
        "vip",
        {"plan": "pro"},
    )
    assert sorted((i["kind"], i["address"]) for i in body["identities"]) == [
        ("email", "marc@shop.fr"),
        ("phone", "+33612345678"),
    ]
    assert sorted(marc.identities.values_list("address", flat=True)) == ["+33612345678", "marc@shop.fr"]


def test_it_refuses_an_identity_that_belongs_to_another_customer(sophie: Any, carla: Customer) -> None:
    client = api_for(sophie)
    marc = Customer.objects.create(display_name="Marc")
    response = client.post(
        f"/api/customers/{marc.pk}/identities/", {"kind": "widget", "address": " carla-visitor "}, format="json"
    )
    assert response.status_code == 409
    # Issue 11 changed this test: the 409 no longer discloses whose address it is (it returned `customer_id`).
    assert response.json() == {
        "detail": "This address already belongs to another customer.",
        "code": "identity_taken",
        "fields": {},
    }
    assert str(carla.pk) not in response.content.decode()
    assert not marc.identities.exists()

    response = client.post(
        "/api/customers/",
        {"display_name": "Impostor", "identities": [{"kind": "widget", "address": "carla-visitor"}]},
        format="json",
    )
    assert response.status_code == 409
    assert "customer_id" not in response.json()
    assert not Customer.objects.filter(display_name="Impostor").exists()


def test_it_adds_and_lists_identities(sophie: Any, carla: Customer) -> None:
    client = api_for(sophie)
    url = f"/api/customers/{carla.pk}/identities/"
    response = client.post(url, {"kind": "whatsapp", "address": "+33 6 12 34 56 78"}, format="json")
    assert response.status_code == 201
    assert response.json()["address"] == "+33612345678"
    assert client.post(url, {"kind": "whatsapp", "address": "0612345678"}, format="json").status_code == 200
    assert [(i["kind"], i["address"]) for i in client.get(url).json()] == [
        ("whatsapp", "+33612345678"),
        ("widget", "carla-visitor"),
    ]


def test_it_names_the_field_of_an_invalid_phone_number(sophie: Any, carla: Customer) -> None:
    client = api_for(sophie)
    response = client.post(f"/api/customers/{carla.pk}/identities/", {"kind": "phone", "address": "12"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"address": ["“12” is not a valid phone number."]}

    response = client.post(
        "/api/customers/", {"display_name": "Marc", "identities": [{"kind": "phone", "address": "12"}]}, format="json"
    )
    assert response.status_code == 400
    # DRF keys the errors of a list by the index of the item at fault.
    assert response.json()["fields"] == {"identities": {"0": {"address": ["“12” is not a valid phone number."]}}}
    assert not Customer.objects.filter(display_name="Marc").exists()


def test_it_pages_the_timeline_by_interaction_id(alice: Any, chat_channel: Channel) -> None:
    juliette = chatting_customer(chat_channel, "Juliette")
    add_messages(juliette, 64)
    client = api_for(alice)

    first = client.get(f"/api/customers/{juliette.pk}/timeline/").json()
    assert len(first["results"]) == 50
    assert first["results"][0]["channel"] == "chat"
    assert f"before={first['results'][-1]['id']}" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 15
    assert second["next"] is None

    ids = [item["id"] for item in first["results"] + second["results"]]
    assert len(set(ids)) == 65
    assert ids == sorted(Interaction.objects.filter(customer=juliette).values_list("id", flat=True), reverse=True)
    assert client.get(f"/api/customers/{juliette.pk}/timeline/?before=abc").status_code == 400


def test_it_merges_then_unmerges_back_to_the_same_timelines(sophie: Any, chat_channel: Channel) -> None:
    juliette = chatting_customer(chat_channel, "Juliette")
    jules = chatting_customer(chat_channel, "Jules")
    add_messages(juliette, 3)
    client = api_for(sophie)
    before = {customer.pk: timeline_ids(client, customer) for customer in (juliette, jules)}

    response = client.post(f"/api/customers/{juliette.pk}/merge/", {"into": jules.pk}, format="json")
    assert response.status_code == 200
    record = MergeRecord.objects.get()
    assert response.json()["id"] == record.pk
    assert (record.source, record.target) == (juliette, jules)
    juliette.refresh_from_db()
    assert juliette.merged_into == jules
    assert sorted(timeline_ids(client, jules)) == sorted(before[juliette.pk] + before[jules.pk])

    response = client.post(f"/api/customers/{juliette.pk}/unmerge/")
    assert response.status_code == 200
    assert response.json()["id"] == record.pk
    assert response.json()["unmerged_at"] is not None
    assert {customer.pk: timeline_ids(client, customer) for customer in (juliette, jules)} == before
    assert client.post(f"/api/customers/{juliette.pk}/unmerge/").status_code == 400


def test_it_lets_only_supervisors_merge_and_unmerge(alice: Any, sophie: Any, chat_channel: Channel) -> None:
    juliette = chatting_customer(chat_channel, "Juliette")
    jules = chatting_customer(chat_channel, "Jules")
    response = api_for(alice).post(f"/api/customers/{juliette.pk}/merge/", {"into": jules.pk}, format="json")
    assert response.status_code == 403
    assert not MergeRecord.objects.exists()

    assert (
        api_for(sophie).post(f"/api/customers/{juliette.pk}/merge/", {"into": jules.pk}, format="json").status_code
        == 200
    )
    assert api_for(alice).post(f"/api/customers/{juliette.pk}/unmerge/").status_code == 403
    assert MergeRecord.objects.get().unmerged_at is None


def test_it_refuses_to_merge_into_itself_or_into_a_merged_customer(sophie: Any, carla: Customer) -> None:
    client = api_for(sophie)
    response = client.post(f"/api/customers/{carla.pk}/merge/", {"into": carla.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "A customer cannot be merged into itself.",
        "code": "merge_into_self",
        "fields": {},
    }

    marc = Customer.objects.create(display_name="Marc")
    paul = Customer.objects.create(display_name="Paul")
    assert client.post(f"/api/customers/{marc.pk}/merge/", {"into": paul.pk}, format="json").status_code == 200
    response = client.post(f"/api/customers/{carla.pk}/merge/", {"into": marc.pk}, format="json")
    assert response.status_code == 400
    assert client.post(f"/api/customers/{carla.pk}/merge/", {"into": 999_999}, format="json").status_code == 400
    assert MergeRecord.objects.count() == 1


def test_it_refuses_to_edit_a_merged_away_customer(sophie: Any) -> None:
    marc = Customer.objects.create(display_name="Marc")
    paul = Customer.objects.create(display_name="Paul")
    client = api_for(sophie)
    assert client.post(f"/api/customers/{marc.pk}/merge/", {"into": paul.pk}, format="json").status_code == 200
    assert client.patch(f"/api/customers/{marc.pk}/", {"segment": "retail"}, format="json").status_code in (400, 404)
    response = client.post(
        f"/api/customers/{marc.pk}/identities/", {"kind": "email", "address": "marc@shop.fr"}, format="json"
    )
    assert response.status_code in (400, 404)
    marc.refresh_from_db()
    assert marc.segment == ""
    assert not marc.identities.exists()


def test_it_refuses_oversized_attributes_and_saves_nothing(sophie: Any, carla: Customer) -> None:
    client = api_for(sophie)
    huge = {"notes": "x" * 70_000}
    response = client.post(
        "/api/customers/",
        {"display_name": "Marc", "attributes": huge, "identities": [{"kind": "email", "address": "marc@shop.fr"}]},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["attributes"]
    assert not Customer.objects.filter(display_name="Marc").exists()
    assert not Identity.objects.filter(address="marc@shop.fr").exists()

    response = client.patch(
        f"/api/customers/{carla.pk}/", {"display_name": "Carla B.", "attributes": huge}, format="json"
    )
    assert response.status_code == 400
    carla.refresh_from_db()
    assert (carla.display_name, carla.attributes) == ("Carla", {})


def test_it_updates_the_profile_but_never_the_read_only_fields(sophie: Any, carla: Customer) -> None:
    marc = Customer.objects.create(display_name="Marc")
    created_at = carla.created_at
    response = api_for(sophie).patch(
        f"/api/customers/{carla.pk}/",
        {
            "id": 999,
            "merged_into": marc.pk,
            "merged_at": "2000-01-01T00:00:00Z",
            "erased_at": "2000-01-01T00:00:00Z",
            "created_at": "2000-01-01T00:00:00Z",
            "segment": "retail",
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["id"] == carla.pk
    carla.refresh_from_db()
    assert (carla.merged_into, carla.merged_at, carla.erased_at, carla.created_at) == (None, None, None, created_at)
    assert carla.segment == "retail"
    assert not Customer.objects.filter(pk=999).exists()


def test_it_lets_only_supervisors_create_or_change_organizations(alice: Any, stan: Any) -> None:
    """Issue 11: any agent could edit organizations; now agents (and staff who are not supervisors) get a 403."""
    acme = Organization.objects.create(name="Acme")
    for user in (alice, stan):
        client = api_for(user)
        assert client.post("/api/organizations/", {"name": "Evil"}, format="json").status_code == 403
        assert client.patch(f"/api/organizations/{acme.pk}/", {"name": "Evil"}, format="json").status_code == 403
        assert client.get(f"/api/organizations/{acme.pk}/").status_code == 200
    assert list(Organization.objects.values_list("name", flat=True)) == ["Acme"]


def test_it_manages_organizations(sophie: Any) -> None:
    """Issue 11 changed this test: organizations are managed by a supervisor (it was an agent, Alice)."""
    client = api_for(sophie)
    response = client.post("/api/organizations/", {"name": "Acme", "domain": "acme.example"}, format="json")
    assert response.status_code == 201
    acme_id = response.json()["id"]
    assert client.post("/api/organizations/", {"name": "Acme"}, format="json").status_code == 400
    assert (
        client.post(
            "/api/organizations/", {"name": "Zeta", "attributes": {"x": "y" * 70_000}}, format="json"
        ).status_code
        == 400
    )
    client.post("/api/organizations/", {"name": "Globex"}, format="json")

    assert [o["name"] for o in client.get("/api/organizations/").json()["results"]] == ["Acme", "Globex"]
    response = client.patch(f"/api/organizations/{acme_id}/", {"name": "Acme Corp", "id": 5}, format="json")
    assert response.status_code == 200
    assert client.get(f"/api/organizations/{acme_id}/").json()["name"] == "Acme Corp"
    assert client.patch(f"/api/organizations/{acme_id}/", {"name": "Globex"}, format="json").status_code == 400
    assert Organization.objects.get(pk=acme_id).domain == "acme.example"
    assert client.get("/api/organizations/999999/").status_code == 404


def test_it_serves_the_schema_and_its_docs(alice: Any) -> None:
    client = api_for(alice)
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert "/api/customers/{id}/merge/" in response.content.decode()
    assert client.get("/api/docs/").status_code == 200
