"""Shared pieces of the desk's look-and-layout browser tests: signed-in browser pages and a busy agent's day."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.test import Client
from playwright.sync_api import Browser, FloatRect, Locator, Page, ViewportSize

from customers.models import Customer, Identity
from interactions.models import Channel, Conversation, Interaction
from interactions.services import receive_message, reply_to_conversation
from routing.models import Offer, Queue
from tests.stack import ROOT, Stack, wait_until

SCREENS = ROOT / "test-artifacts" / "screens"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}


def signed_in_page(browser: Browser, stack: Stack, user: Any, *, locale: str = "en-GB") -> Page:
    """A browser page already signed in as `user` (a real session row), in `locale` (Accept-Language)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport=VIEWPORT, locale=locale)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": stack.base_url}])
    return context.new_page()


def box(locator: Locator) -> FloatRect:
    """The element's bounding box in CSS pixels; fails loudly when it is not rendered at all."""
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not rendered"
    return found


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def chat_from(channel: Channel, customer: Customer, text: str) -> Interaction:
    """A customer's chat message stored the way the worker stores it (row lock held, routed on a new case)."""
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        return receive_message(customer=customer, channel=channel, external_id=uuid.uuid4().hex, text=text)


@dataclass
class BusyDay:
    """Alice's desk mid-morning: a long chat with Carla open, a note in it, and an offer waiting for her."""

    conversation: Conversation
    offer: Offer
    carla: Customer
    first_text: str
    last_text: str


def busy_day(*, agent: Any, channel: Channel, offers_queue: Queue, messages: int = 60) -> BusyDay:
    """`messages` entries alternating customer and agent, one internal note, and a pending offer on another queue."""
    carla = Customer.objects.create(display_name="Carla Martin", language="fr", segment="Particuliers")
    Identity.objects.create(customer=carla, kind=Identity.Kind.WIDGET, address=f"carla-{uuid.uuid4().hex[:8]}")
    first_text = "Bonjour, ma facture de novembre est fausse : 212 € au lieu de 112 €."
    first = chat_from(channel, carla, first_text)
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.assignee_id == agent.pk, "the conversation should be routed to the agent"
    last_text = first_text
    for number in range(2, messages + 1):
        if number % 2:
            last_text = f"Message {number} de Carla : voici le détail de ma consommation du mois."
            chat_from(channel, carla, last_text)
        else:
            last_text = f"Réponse {number} : je vérifie votre relevé de compteur et je reviens vers vous."
            reply_to_conversation(conversation=conversation, author=agent, text=last_text)
    Interaction.objects.create(
        conversation=conversation,
        customer=carla,
        channel=channel,
        kind=Interaction.Kind.NOTE,
        direction=Interaction.Direction.OUTBOUND,
        author=agent,
        text="Relevé de compteur demandé au service technique.",
    )
    # A second queue in offer mode: its new case is offered to the agent, who has not answered yet.
    offer_channel = Channel.objects.create(kind=Channel.Kind.CHAT, name="Boutique", queue=offers_queue)
    bruno = Customer.objects.create(display_name="Bruno Lefèvre")
    chat_from(offer_channel, bruno, "Bonjour, je voudrais changer d'offre.")
    wait_until(lambda: Offer.objects.filter(agent=agent, state=Offer.State.PENDING).exists(), timeout=10)
    offer = Offer.objects.get(agent=agent, state=Offer.State.PENDING)
    return BusyDay(conversation=conversation, offer=offer, carla=carla, first_text=first_text, last_text=last_text)
