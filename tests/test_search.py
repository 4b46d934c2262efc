"""Customer search: by name, identity address (phones in any format) and message text, within what one may see."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from customers.models import Customer, Identity
from customers.selectors import phone_suffix
from interactions.models import Channel, Conversation, Interaction
from routing.models import Queue
from tests.conftest import PASSWORD


def logged_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def search(username: str, query: str, *, htmx: bool = True) -> str:
    headers = {"HX-Request": "true"} if htmx else {}
    response = logged_in(username).get("/customers/search/", {"q": query}, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def customer_with_case(name: str, queue: Queue, *, text: str = "Bonjour") -> Customer:
    """A customer who wrote once by email to `queue`'s mailbox."""
    channel, _created = Channel.objects.get_or_create(
        kind=Channel.Kind.EMAIL, name=f"{queue.name} mailbox", defaults={"queue": queue}
    )
    customer = Customer.objects.create(display_name=name)
    conversation = Conversation.objects.create(customer=customer, channel=channel, queue=queue)
    Interaction.objects.create(conversation=conversation, customer=customer, channel=channel, direction="in", text=text)
    return customer


@pytest.fixture
def dominique(support_queue: Queue) -> Customer:
    """A Support customer with an email address and a French mobile number."""
    customer = customer_with_case("Dominique Martin", support_queue, text="Ma facture de mars est introuvable")
    Identity.objects.create(customer=customer, kind=Identity.Kind.EMAIL, address="dominique@example.com")
    Identity.objects.create(customer=customer, kind=Identity.Kind.PHONE, address="+33612345678")
    return customer


def test_it_shows_the_search_box_with_an_accessible_name(alice: Any) -> None:
    body = search("alice", "", htmx=False)
    assert '<label for="customer-search">Search customers</label>' in body
    assert 'hx-trigger="input changed delay:250ms, search"' in body


def test_it_finds_a_customer_by_name(alice: Any, dominique: Customer) -> None:
    body = search("alice", "martin")
    assert "<html" not in body
    assert f'<a href="/customers/{dominique.pk}/">Dominique Martin</a>' in body


def test_it_finds_a_customer_by_email(alice: Any, dominique: Customer) -> None:
    assert f'id="customer-{dominique.pk}"' in search("alice", "DOMINIQUE@example")


@pytest.mark.parametrize("query", ["06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678"])
def test_it_finds_a_customer_by_phone_in_any_format(alice: Any, dominique: Customer, query: str) -> None:
    assert f'id="customer-{dominique.pk}"' in search("alice", query)


def test_it_finds_messages_by_their_words(alice: Any, dominique: Customer) -> None:
    message = Interaction.objects.get(customer=dominique)
    body = search("alice", "facture introuvable")
    assert f'id="result-interaction-{message.pk}"' in body
    assert "Ma facture de mars est introuvable" in body
    assert f'href="/customers/{dominique.pk}/"' in body


def test_it_renders_the_whole_page_without_htmx(alice: Any, dominique: Customer) -> None:
    body = search("alice", "Dominique", htmx=False)
    assert "<html" in body and 'value="Dominique"' in body
    assert f'id="customer-{dominique.pk}"' in body


def test_it_returns_customers_of_every_team_to_an_agent(oscar: Any, dominique: Customer, billing_queue: Queue) -> None:
    """Issue 11 changed this test (it was: never customers of another team): every active agent may look any
    customer up, by name, email or phone, and find their messages."""
    billing_martin = customer_with_case("Bernard Martin", billing_queue, text="Ma facture de mai")

    body = search("oscar", "martin")
    assert f'id="customer-{billing_martin.pk}"' in body
    assert f'id="customer-{dominique.pk}"' in body
    for query in ("dominique@example.com", "06 12 34 56 78"):
        assert f'id="customer-{dominique.pk}"' in search("oscar", query)
    facture = search("oscar", "facture")
    assert "Ma facture de mai" in facture and "introuvable" in facture


def test_it_searches_every_customer_for_a_supervisor(sophie: Any, dominique: Customer) -> None:
    lone = Customer.objects.create(display_name="Martine sans dossier")
    body = search("sophie", "martin")
    assert f'id="customer-{dominique.pk}"' in body and f'id="customer-{lone.pk}"' in body


def test_it_reads_phone_numbers_in_any_format() -> None:
    assert phone_suffix("06 12 34 56 78") == "612345678"
    assert phone_suffix("06 12") is None  # too short to be worth matching
    assert phone_suffix("+33 6 12 34 56 78") == "33612345678"
    assert phone_suffix("0033612345678") == "33612345678"
    assert phone_suffix("dominique") is None
