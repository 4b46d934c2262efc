"""One person across every channel: identity normalization and the website's verified visitor identity."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from playwright.sync_api import Browser, expect

from customers.models import Customer, Identity
from customers.services import normalize_address, resolve_identity
from interactions import visitors
from interactions.models import Channel
from tests.browser import website, widget_page
from tests.stack import Stack


@pytest.mark.parametrize("written", ["06 12 34 56 78", "+33612345678", "0033 6 12 34 56 78", "+33 6 12-34-56-78"])
def test_it_reads_every_way_of_writing_a_french_mobile_as_one_number(written: str) -> None:
    assert normalize_address("phone", written) == "+33612345678"
    assert normalize_address("whatsapp", written) == "+33612345678"


def test_it_normalizes_emails_but_keeps_plus_addresses_apart() -> None:
    assert normalize_address("email", "  Jeanne.Martin@Example.COM ") == "jeanne.martin@example.com"
    assert normalize_address("email", "ｊｅａｎｎｅ@example.com") == "jeanne@example.com"
    assert normalize_address("email", "jeanne+shop@example.com") != normalize_address("email", "jeanne@example.com")


@pytest.mark.parametrize(
    ("kind", "address", "code"),
    [
        ("phone", "12", "invalid_phone"),
        ("phone", "not a phone", "invalid_phone"),
        ("email", "jeanne@", "invalid_email"),
        ("telegram", "   ", "empty_address"),
    ],
)
def test_it_refuses_addresses_that_cannot_be_identities(kind: str, address: str, code: str) -> None:
    with pytest.raises(ValidationError) as error:
        normalize_address(kind, address)
    assert error.value.code == code


def test_it_resolves_equivalent_addresses_to_the_same_customer(db: None) -> None:
    first = resolve_identity(kind="phone", address="06 12 34 56 78")
    again = resolve_identity(kind="phone", address="0033 6 12 34 56 78")
    assert again.pk == first.pk
    assert Customer.objects.count() == 1
    assert Identity.objects.get().address == "+33612345678"


def test_it_links_a_signed_visitor_to_the_customer_with_that_email(jeanne: Customer, chat_channel: Channel) -> None:
    signature = visitors.sign_visitor_email(channel=chat_channel, email="jeanne@example.com")
    customer = visitors.identify_visitor(
        channel=chat_channel,
        visitor_id="device-b",
        email="jeanne@example.com",
        name="Jeanne",
        identifier_hash=signature,
    )
    assert customer == jeanne
    assert Identity.objects.get(kind="widget", address="device-b").customer == jeanne


@pytest.mark.parametrize("forged", [None, "", "0" * 64, "not-hex"])
def test_it_never_links_an_unsigned_or_forged_claim(jeanne: Customer, chat_channel: Channel, forged: Any) -> None:
    customer = visitors.identify_visitor(
        channel=chat_channel, visitor_id="intruder", email="jeanne@example.com", name="Jeanne", identifier_hash=forged
    )
    assert customer != jeanne
    assert customer.attributes["unverified_email"] == "jeanne@example.com"
    assert Identity.objects.get(kind="widget", address="intruder").customer == customer
    assert not Identity.objects.filter(kind="email", customer=customer).exists()


def test_it_does_not_accept_another_channels_signature(jeanne: Customer, chat_channel: Channel) -> None:
    other = Channel.objects.create(kind="chat", name="Other site", queue=chat_channel.queue)
    signature = visitors.sign_visitor_email(channel=other, email="jeanne@example.com")
    customer = visitors.identify_visitor(
        channel=chat_channel, visitor_id="v", email="jeanne@example.com", name="", identifier_hash=signature
    )
    assert customer != jeanne


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_shows_history_only_to_a_visitor_the_website_vouched_for(
    stack: Stack, browser: Browser, jeanne: Customer, chat_channel: Channel
) -> None:
    signature = visitors.sign_visitor_email(channel=chat_channel, email="jeanne@example.com")
    pages = {
        "/signed": widget_page(
            desk_url=stack.base_url,
            channel_key=chat_channel.public_key,
            attributes={"email": "jeanne@example.com", "name": "Jeanne", "identifier-hash": signature},
        ),
        "/forged": widget_page(
            desk_url=stack.base_url,
            channel_key=chat_channel.public_key,
            attributes={"email": "jeanne@example.com", "identifier-hash": "f" * 64},
        ),
    }
    with website(pages) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])

        intruder = browser.new_context().new_page()
        intruder.goto(f"{origin}/forged")
        intruder.get_by_role("button", name="Chat with us").click()
        intruder_log = intruder.get_by_role("log", name="Conversation")
        intruder.get_by_label("Message").fill("Bonjour")
        intruder.get_by_role("button", name="Send").click()
        expect(intruder_log).to_contain_text("Bonjour")

        jeanne_on_new_device = browser.new_context().new_page()
        jeanne_on_new_device.goto(f"{origin}/signed")
        jeanne_on_new_device.get_by_role("button", name="Chat with us").click()
        expect(jeanne_on_new_device.get_by_role("log", name="Conversation")).to_contain_text("Ma commande 4521")

        expect(intruder_log).not_to_contain_text("Ma commande 4521")
    intruder_customer = Customer.objects.get(
        identities__kind="widget", identities__address__isnull=False, attributes__unverified_email="jeanne@example.com"
    )
    assert intruder_customer != jeanne
