"""A contact page set up like an energy supplier's: billing (self-service first) and a new contract (human first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contact.models import ContactSite, IntentNode
from contact.scenarios import publish_scenario
from interactions.models import Channel
from routing.models import Intent, Queue

METER_SOLUTIONS = [
    {"kind": "self_service", "target": "https://help.example/meter"},
    {"kind": "chat", "max_ewt_seconds": 300},
    {"kind": "email"},
]
CONTRACT_SOLUTIONS = [
    {"kind": "chat", "max_ewt_seconds": 300},
    {"kind": "callback"},
    {"kind": "email"},
    {"kind": "whatsapp", "target": "https://wa.me/33100000000", "mobile_first": True},
]


@dataclass
class ContactSetup:
    site: ContactSite
    billing: IntentNode
    meter: IntentNode
    contract: IntentNode
    voice: Channel
    email: Channel

    @property
    def key(self) -> str:
        return self.site.key


def contact_setup(*, chat: Channel, queue: Queue, slot_capacity: int = 2, **site: Any) -> ContactSetup:
    voice = Channel.objects.create(kind=Channel.Kind.VOICE, name="Hotline", queue=queue)
    email = Channel.objects.create(
        kind=Channel.Kind.EMAIL, name="Mailbox", queue=queue, config={"address": "support@acme.example"}
    )
    contact_site = ContactSite.objects.create(
        chat_channel=chat, voice_channel=voice, email_channel=email, slot_capacity=slot_capacity, **site
    )
    # The routing referential is shared by every site.
    meter_intent, _new = Intent.objects.get_or_create(
        key="meter-reading", defaults={"name": "Meter reading", "keywords": ["meter", "compteur"]}
    )
    contract_intent, _new = Intent.objects.get_or_create(
        key="new-contract",
        defaults={"name": "New contract", "keywords": ["contract", "contrat", "subscribe"], "queue": queue},
    )
    billing = IntentNode.objects.create(site=contact_site, label_en="Billing", label_fr="Facturation", icon="€")
    meter = IntentNode.objects.create(
        site=contact_site,
        parent=billing,
        intent=meter_intent,
        position=1,
        label_en="Send a meter reading",
        label_fr="Transmettre un relevé",
    )
    contract = IntentNode.objects.create(
        site=contact_site,
        parent=billing,
        intent=contract_intent,
        position=2,
        label_en="Sign a new contract",
        label_fr="Souscrire un contrat",
    )
    publish_scenario(
        node=meter,
        solutions=METER_SOLUTIONS,
        answer_en="Enter your reading in your online account, under Meter.",
        answer_fr="Saisissez votre relevé dans votre espace client, rubrique Compteur.",
    )
    publish_scenario(node=contract, solutions=CONTRACT_SOLUTIONS)
    return ContactSetup(contact_site, billing, meter, contract, voice, email)


def fresh_load(settings: Any) -> None:
    """Read the live load on every decision (the page shares a 2 s snapshot between visitors)."""
    settings.OMNIDESK_CONTACT_LOAD_TTL_SECONDS = 0
