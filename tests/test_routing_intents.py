"""Intent detection wired into routing: the detected intent's queue, skills and boost; the default intent below the
threshold; French and English examples."""

from __future__ import annotations

from typing import Any

import pytest

from interactions.models import Channel
from routing.models import ConversationIntent, Intent, Queue, RoutingItem, Skill
from routing.services import tier_boost


@pytest.fixture
def referential(support_queue: Queue, billing_queue: Queue) -> dict[str, Intent]:
    billing_skill = Skill.objects.create(name="Billing")
    billing = Intent.objects.create(
        key="billing",
        name="Billing",
        keywords=["facture", "invoice", "remboursement", "refund"],
        examples=["ma facture est fausse", "I was charged twice on my invoice", "je veux être remboursé"],
        queue=billing_queue,
        priority_boost=7,
    )
    billing.required_skills.add(billing_skill)
    delivery = Intent.objects.create(
        key="delivery",
        name="Delivery",
        keywords=["livraison", "colis", "delivery", "parcel"],
        examples=["mon colis n'est pas arrivé", "where is my parcel", "la livraison est en retard"],
    )
    default = Intent.objects.create(key="other", name="Other", is_default=True)
    return {"billing": billing, "delivery": delivery, "other": default}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour, ma facture de novembre est fausse", "billing"),
        ("Hello, I was charged twice on my last invoice", "billing"),
        ("Mon colis n'est toujours pas arrivé", "delivery"),
        ("Where is my parcel? It is late", "delivery"),
        ("Quelle heure est-il ?", "other"),
    ],
)
def test_it_detects_the_intent_of_the_first_message_in_french_and_english(
    alice: Any, oscar: Any, chat_channel: Channel, arrive: Any, referential: dict[str, Intent], text: str, expected: str
) -> None:
    conversation = arrive(chat_channel, text=text)
    assert ConversationIntent.objects.get(conversation=conversation).intent == referential[expected]


def test_it_routes_to_the_intents_queue_with_its_skills_and_boost(
    alice: Any, oscar: Any, billing_queue: Queue, chat_channel: Channel, arrive: Any, referential: dict[str, Intent]
) -> None:
    conversation = arrive(chat_channel, text="Ma facture est fausse, je veux un remboursement")
    item = RoutingItem.objects.get(conversation=conversation)
    assert item.queue == billing_queue
    assert item.boost == tier_boost("standard") + 7
    assert list(item.required_skills.values_list("name", flat=True)) == ["Billing"]
    assert item.reason == "no available agent with skill Billing"
