"""The customer 360° page: profile, identities, attributes edited inline, open cases, summary and unified timeline."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from customers import selectors
from customers.models import Customer, Identity
from interactions.models import Channel, Conversation, Interaction
from tests.clients import logged_in
from tests.factories import widget_message


def email_case(customer: Customer, channel: Channel, *, status: str = Conversation.Status.OPEN) -> Conversation:
    return Conversation.objects.create(customer=customer, channel=channel, queue=channel.queue, status=status)


def email(conversation: Conversation, text: str, *, direction: str = Interaction.Direction.INBOUND) -> Interaction:
    return Interaction.objects.create(
        conversation=conversation,
        customer=conversation.customer,
        channel=conversation.channel,
        direction=direction,
        text=text,
    )


def interaction_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-interaction-id="(\d+)"', html)]


def test_it_sends_anonymous_visitors_to_the_login_page(carla: Customer) -> None:
    response = Client().get(f"/customers/{carla.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_identities_and_every_channel_newest_first(
    alice: Any, chat_channel: Channel, mailbox: Channel, carla: Customer
) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com", verified=True)
    chat = widget_message(chat_channel, visitor="carla-visitor", text="Bonjour depuis le site")
    mail = email(email_case(carla, mailbox), "Suite à mon message sur le site")

    body = logged_in("alice").get(f"/customers/{carla.pk}/").content.decode()

    assert "<h1>Carla</h1>" in body
    assert "carla-visitor" in body and "Website visitor" in body
    assert "carla@example.com" in body and "Verified" in body
    assert interaction_ids(body) == [mail.pk, chat.pk]
    assert "Email" in body and "Website chat" in body


def test_it_lists_the_open_cases_only(alice: Any, mailbox: Channel, carla: Customer) -> None:
    open_case = email_case(carla, mailbox)
    done = email_case(carla, mailbox, status=Conversation.Status.RESOLVED)

    body = logged_in("alice").get(f"/customers/{carla.pk}/").content.decode()

    assert f'id="case-{open_case.pk}"' in body
    assert f'id="case-{done.pk}"' not in body


def test_it_loads_older_interactions_page_by_page_without_duplicates(
    alice: Any, mailbox: Channel, carla: Customer
) -> None:
    case = email_case(carla, mailbox)
    Interaction.objects.bulk_create(
        Interaction(conversation=case, customer=carla, channel=mailbox, direction="in", text=f"Message {n}")
        for n in range(62)
    )
    newest_first = list(Interaction.objects.filter(customer=carla).order_by("-id").values_list("id", flat=True))
    client = logged_in("alice")

    first = client.get(f"/customers/{carla.pk}/").content.decode()
    assert interaction_ids(first) == newest_first[:50]
    older_url = f"/customers/{carla.pk}/?before={newest_first[49]}"
    assert f'href="{older_url}" hx-get="{older_url}"' in first

    second = client.get(older_url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in second
    assert interaction_ids(second) == newest_first[50:]
    assert "Load older" not in second


def test_it_shows_the_customer_to_an_agent_of_another_team(
    alice: Any, oscar: Any, mailbox: Channel, carla: Customer
) -> None:
    """Issue 11 changed this test (it was: 404 for another team's agent): every active agent may look a customer up
    and sees their messages on every channel."""
    email(email_case(carla, mailbox), "Ma facture")
    page = logged_in("oscar").get(f"/customers/{carla.pk}/")
    assert page.status_code == 200
    assert "Ma facture" in page.content.decode()
    assert logged_in("oscar").get(f"/customers/{carla.pk}/attributes/edit/").status_code == 200
    assert logged_in("alice").get(f"/customers/{carla.pk}/").status_code == 200


def test_it_shows_every_customer_to_a_supervisor(sophie: Any, carla: Customer) -> None:
    assert not carla.conversations.exists()
    assert logged_in("sophie").get(f"/customers/{carla.pk}/").status_code == 200


def test_it_opens_the_attributes_form_inline(alice: Any, mailbox: Channel, carla: Customer) -> None:
    email_case(carla, mailbox)
    Customer.objects.filter(pk=carla.pk).update(attributes={"plan": "gold"})

    response = logged_in("alice").get(f"/customers/{carla.pk}/attributes/edit/", headers={"HX-Request": "true"})

    body = response.content.decode()
    assert "<html" not in body
    assert 'name="key" value="plan"' in body and 'name="value" value="gold"' in body
    assert 'aria-label="Key of row 1"' in body


def test_it_saves_the_attributes_edited_inline(alice: Any, mailbox: Channel, carla: Customer) -> None:
    email_case(carla, mailbox)
    rows = {"key": ["  plan ", "", "city"], "value": ["platinum", "dropped", "Lyon"]}

    response = logged_in("alice").post(f"/customers/{carla.pk}/attributes/", rows, headers={"HX-Request": "true"})

    assert response.status_code == 200
    carla.refresh_from_db()
    assert carla.attributes == {"plan": "platinum", "city": "Lyon"}
    body = response.content.decode()
    assert '<section id="attributes"' in body
    assert "<dt>plan</dt><dd>platinum</dd>" in body


def test_it_refuses_attributes_over_64_kb_and_saves_nothing(alice: Any, mailbox: Channel, carla: Customer) -> None:
    email_case(carla, mailbox)
    Customer.objects.filter(pk=carla.pk).update(attributes={"plan": "gold"})
    huge = {"key": ["plan", "notes"], "value": ["platinum", "x" * (65 * 1024)]}

    response = logged_in("alice").post(f"/customers/{carla.pk}/attributes/", huge, headers={"HX-Request": "true"})

    assert response.status_code == 422
    assert response["HX-Retarget"] == "#attributes"
    assert "Custom attributes are limited to 64 KB in total" in response.content.decode()
    carla.refresh_from_db()
    assert carla.attributes == {"plan": "gold"}


def test_it_counts_the_inbound_contacts_per_channel_of_the_last_90_days(
    alice: Any, chat_channel: Channel, mailbox: Channel, carla: Customer, django_assert_num_queries: Any
) -> None:
    widget_message(chat_channel, visitor="carla-visitor", text="Un")
    widget_message(chat_channel, visitor="carla-visitor", text="Deux")
    case = email_case(carla, mailbox)
    email(case, "Bonjour")
    email(case, "Réponse", direction=Interaction.Direction.OUTBOUND)
    old = email(case, "Il y a longtemps")
    Interaction.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))

    with django_assert_num_queries(1):
        contacts = selectors.contacts_per_channel(carla)

    assert contacts == [
        {"kind": "chat", "label": "Website chat", "count": 2},
        {"kind": "email", "label": "Email", "count": 1},
    ]
    body = logged_in("alice").get(f"/customers/{carla.pk}/").content.decode()
    assert '<tr data-channel-kind="chat"><th scope="row">Website chat</th><td>2</td></tr>' in body
    assert '<tr data-channel-kind="email"><th scope="row">Email</th><td>1</td></tr>' in body
    assert "Contacts in the last 90 days" in body


def test_it_stores_attributes_as_a_json_object_of_strings(alice: Any, mailbox: Channel, carla: Customer) -> None:
    email_case(carla, mailbox)
    logged_in("alice").post(f"/customers/{carla.pk}/attributes/", {"key": ["vip"], "value": ["oui"]})
    stored = Customer.objects.values_list("attributes", flat=True).get(pk=carla.pk)
    assert json.dumps(stored) == '{"vip": "oui"}'
