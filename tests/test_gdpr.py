"""GDPR: Sophie the supervisor exports everything about Zoé, then erases her personal data; Alice the agent may not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from customers import csv_io, gdpr
from customers.merge import merge_customers
from customers.models import Customer, CustomerImport, ErasureRecord, Identity, MergeRecord
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from omnidesk.models import Event
from tests.clients import logged_in
from tests.factories import widget_message

NAME = "Zoé Lambertini"
EMAIL = "zoe.lambertini@example.com"
PHONE = "+33612345678"


@pytest.fixture
def zoe(sophie: Any, chat_channel: Channel, mailbox: Channel, django_capture_on_commit_callbacks: Any) -> Customer:
    """A customer who chatted from the website, then wrote by email and was merged with her email self.

    Her name, email and phone end up in many places: profile, identities, message texts, raw inbound payloads,
    realtime events, the merge record's undo data and a CSV import.
    """
    with django_capture_on_commit_callbacks(execute=True):
        chat = widget_message(chat_channel, visitor="zoe-visitor", text=f"Bonjour, je suis {NAME} ({EMAIL}, {PHONE})")
    visitor = chat.customer
    Customer.objects.filter(pk=visitor.pk).update(display_name="")  # so that the merge copies the name over
    by_email = Customer.objects.create(display_name=NAME, attributes={"full_name": NAME}, segment="Lambertini family")
    Identity.objects.create(customer=by_email, kind=Identity.Kind.EMAIL, address=EMAIL)
    Identity.objects.create(customer=by_email, kind=Identity.Kind.PHONE, address=PHONE)
    case = Conversation.objects.create(customer=by_email, channel=mailbox, queue=mailbox.queue)
    Interaction.objects.create(
        conversation=case, customer=by_email, channel=mailbox, direction="in", text=f"Signé : {NAME}"
    )
    visitor.refresh_from_db()
    merge_customers(source=by_email, target=visitor, by=sophie)
    CustomerImport.objects.create(
        filename="crm.csv",
        content=f"display_name,email,phone\n{NAME},{EMAIL},06 12 34 56 78\nAnother Person,other@example.com,\n",
        status=CustomerImport.Status.DONE,
    )
    visitor.refresh_from_db()
    assert visitor.display_name == NAME
    return visitor


def hits_in_database(needle: str) -> list[str]:
    """Every table.column (text, varchar or JSON) of the database whose value contains `needle`, ignoring case."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND data_type IN ('text', 'character varying', 'json', 'jsonb')"
        )
        columns = cursor.fetchall()
        hits = []
        for table, column in columns:
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s', [f"%{needle}%"])
            if cursor.fetchone()[0]:
                hits.append(f"{table}.{column}")
    return hits


def test_it_exports_everything_about_the_customer(sophie: Any, zoe: Customer) -> None:
    data = gdpr.export_customer_data(customer=zoe, by=sophie)

    json.dumps(data)
    assert data["profile"]["display_name"] == NAME
    assert data["profile"]["attributes"] == {"full_name": NAME}
    assert {(i["kind"], i["address"]) for i in data["identities"]} == {
        ("widget", "zoe-visitor"),
        ("email", EMAIL),
        ("phone", PHONE),
    }
    assert len(data["conversations"]) == 2
    assert sorted(i["text"] for i in data["interactions"]) == [
        f"Bonjour, je suis {NAME} ({EMAIL}, {PHONE})",
        f"Signé : {NAME}",
    ]
    assert [(r["target_id"], r["unmerged_at"]) for r in data["merge_records"]] == [(zoe.pk, None)]


def test_it_refuses_erasure_to_an_agent(alice: Any, zoe: Customer) -> None:
    with pytest.raises(PermissionDenied):
        gdpr.erase_customer(customer=zoe, by=alice)
    assert Customer.objects.get(pk=zoe.pk).display_name == NAME
    assert not ErasureRecord.objects.exists()


def test_it_leaves_no_trace_of_the_email_or_the_name_in_the_database(sophie: Any, zoe: Customer) -> None:
    for needle in ("Lambertini", EMAIL, "612345678", "zoe-visitor"):
        assert hits_in_database(needle), needle
    conversations, interactions = Conversation.objects.count(), Interaction.objects.count()

    record = gdpr.erase_customer(customer=zoe, by=sophie)

    for needle in ("Lambertini", EMAIL, "612345678", "zoe-visitor", "Zoé"):
        assert hits_in_database(needle) == [], needle
    assert Conversation.objects.count() == conversations == 2
    assert Interaction.objects.count() == interactions == 2
    assert Conversation.objects.filter(customer=zoe).count() == 2
    assert record.counts == {
        "identities": 3,
        "interactions": 2,
        "conversations": 2,
        "calls": 0,
        "callbacks": 0,
        "inbound_events": 1,
        "attachments": 0,
    }
    assert record.erased_by == sophie
    zoe.refresh_from_db()
    assert zoe.erased_at == record.erased_at
    assert (zoe.display_name, zoe.attributes, zoe.segment) == ("", {}, "")
    assert not zoe.identities.exists()


def test_it_keeps_other_peoples_data(sophie: Any, zoe: Customer, chat_channel: Channel) -> None:
    other = widget_message(chat_channel, visitor="someone-else", text="Je suis Bernard")

    gdpr.erase_customer(customer=zoe, by=sophie)

    assert Interaction.objects.get(pk=other.pk).text == "Je suis Bernard"
    assert InboundEvent.objects.get(external_id=other.external_id).payload["text"] == "Je suis Bernard"
    assert "other@example.com" in CustomerImport.objects.get().content
    assert MergeRecord.objects.get().moved["rows"]


def test_it_deletes_the_realtime_events_of_the_customers_conversations(sophie: Any, zoe: Customer) -> None:
    conversation_ids = list(zoe.conversations.values_list("pk", flat=True))
    assert Event.objects.filter(data__conversation_id__in=conversation_ids).exists()

    gdpr.erase_customer(customer=zoe, by=sophie)

    assert not Event.objects.filter(data__conversation_id__in=conversation_ids).exists()
    assert not Event.objects.filter(data__conversation__id__in=conversation_ids).exists()


def test_it_refuses_the_erase_page_to_an_agent_with_403(alice: Any, zoe: Customer) -> None:
    response = logged_in("alice").post(f"/customers/{zoe.pk}/erase/", {"confirm": "on"})
    assert response.status_code == 403
    assert Customer.objects.get(pk=zoe.pk).display_name == NAME


def test_it_erases_from_the_desk_once_confirmed(sophie: Any, zoe: Customer) -> None:
    client = logged_in("sophie")

    unconfirmed = client.post(f"/customers/{zoe.pk}/erase/")
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm the erasure." in unconfirmed.content.decode()
    assert not ErasureRecord.objects.exists()

    response = client.post(f"/customers/{zoe.pk}/erase/", {"confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{zoe.pk}/"
    assert ErasureRecord.objects.filter(customer=zoe).exists()
    assert "personal data was erased" in client.get(f"/customers/{zoe.pk}/").content.decode()


def test_it_downloads_the_json_export_for_supervisors_only(sophie: Any, alice: Any, zoe: Customer) -> None:
    response = logged_in("sophie").get(f"/customers/{zoe.pk}/export.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="customer-{zoe.pk}.json"'
    assert json.loads(response.content)["profile"]["display_name"] == NAME

    assert logged_in("alice").get(f"/customers/{zoe.pk}/export.json").status_code == 403


def test_it_blanks_only_the_lines_of_the_person_in_a_csv(db: None) -> None:
    content = "display_name,email,phone\nZoé,zoe@example.com,\nBob,bob@example.com,'+33698765432\n"
    blanked = csv_io.blank_rows_of(content, emails=set(), phones={"+33698765432"})
    assert blanked.splitlines() == ["display_name,email,phone", "Zoé,zoe@example.com,", ",,"]


def test_it_refuses_to_erase_a_merged_away_customer_but_erases_it_with_the_survivor(sophie: Any, zoe: Customer) -> None:
    merged_away = MergeRecord.objects.get().source

    response = logged_in("sophie").post(f"/customers/{merged_away.pk}/erase/", {"confirm": "on"})

    assert response.status_code == 422
    assert "erase the surviving customer" in response.content.decode()
    gdpr.erase_customer(customer=zoe, by=sophie)
    merged_away.refresh_from_db()
    assert merged_away.erased_at is not None
    assert (merged_away.display_name, merged_away.attributes, merged_away.segment) == ("", {}, "")
