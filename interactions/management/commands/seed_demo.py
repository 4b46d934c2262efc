"""Demo data for `make run`: channels of every kind, queues with skills, hours and SLA targets, intents, people."""

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from assist.canned_admin import save_canned
from assist.models import CannedResponse
from contact.models import ContactSite, IntentNode
from contact.scenarios import publish_scenario
from interactions.messaging.admin import webhook_path as messaging_webhook_path
from interactions.models import Channel
from interactions.phone.models import Disposition
from reporting.models import QueueReportingSettings
from routing.models import AgentProfile, AgentSkill, Intent, Queue, Skill

DEMO_PASSWORD = "demo-password"
# username, first name, role, {skill: proficiency}
PEOPLE = [
    ("alice", "Alice", AgentProfile.Role.AGENT, {"French": 5, "English": 4, "Billing": 3}),
    ("bruno", "Bruno", AgentProfile.Role.AGENT, {"French": 5, "Technical": 5}),
    ("sophie", "Sophie", AgentProfile.Role.SUPERVISOR, {"French": 5, "English": 5, "Billing": 5, "Technical": 4}),
]
WEEKDAYS_9_TO_18 = {str(day): [["09:00", "18:00"]] for day in range(5)}
QUEUES = [
    # name, channel kinds, SLA first response / resolution (business minutes)
    ("Support", ["chat", "sms", "whatsapp", "messenger", "instagram", "telegram", "api"], 5, 480),
    ("Email", ["email"], 240, 2880),
    ("Phone", ["voice"], 1, 60),
    ("Billing", [], 60, 1440),
]
INTENTS = [
    (
        "billing",
        "Billing",
        "Billing",
        ["facture", "invoice", "prélèvement", "charged", "remboursement", "refund"],
        ["ma facture est fausse", "I was charged twice"],
        10,
    ),
    (
        "delivery",
        "Delivery",
        "Support",
        ["colis", "parcel", "livraison", "delivery", "suivi"],
        ["où est mon colis ?", "my parcel hasn't arrived"],
        0,
    ),
    (
        "cancellation",
        "Cancellation",
        "Support",
        ["résilier", "résiliation", "cancel", "unsubscribe"],
        ["je veux résilier mon abonnement", "cancel my subscription"],
        5,
    ),
    (
        "technical",
        "Technical issue",
        "Support",
        ["panne", "box", "internet", "connexion", "down"],
        ["la box ne marche plus", "internet is down"],
        0,
    ),
]
# kind, name, queue, non-secret config, secret names to generate
CHANNELS = [
    (Channel.Kind.EMAIL, "Support mailbox", "Email", {"address": "support@omnidesk.invalid"}, ["webhook_signing_key"]),
    (
        Channel.Kind.SMS,
        "SMS (Twilio)",
        "Support",
        {"provider": "twilio", "from_number": "+33700000001"},
        ["auth_token"],
    ),
    (
        Channel.Kind.WHATSAPP,
        "WhatsApp (Meta)",
        "Support",
        # Meta events are accepted only for the channel's own number: the admin replaces this placeholder id.
        {"provider": "meta", "phone_number_id": "000000000000000"},
        ["app_secret", "verify_token", "access_token"],
    ),
    (Channel.Kind.TELEGRAM, "Telegram bot", "Support", {}, ["bot_token", "secret_token"]),
    (Channel.Kind.API, "Own app (API)", "Support", {}, ["signing_secret"]),
    (Channel.Kind.VOICE, "Phone line", "Phone", {}, ["cti_secret"]),
]
# The demo contact page: category → intent (the routing intent's key), self-service answer, solutions in order.
CONTACT_TREE = [
    (
        ("Billing", "Facturation", "€"),
        [
            (
                "billing",
                ("A question about my bill", "Une question sur ma facture"),
                (
                    "Your bills are in your online account, under Billing; each line links to its detail.",
                    "Vos factures sont dans votre espace client, rubrique Facturation ; chaque ligne a son détail.",
                ),
                [
                    {"kind": "self_service", "target": "https://help.omnidesk.invalid/billing"},
                    {"kind": "chat", "max_ewt_seconds": 300},
                    {"kind": "callback"},
                    {"kind": "email"},
                ],
            ),
            (
                "cancellation",
                ("Cancel my subscription", "Résilier mon abonnement"),
                ("", ""),
                [{"kind": "chat", "max_ewt_seconds": 180}, {"kind": "callback"}, {"kind": "email"}],
            ),
        ],
    ),
    (
        ("Help", "Assistance", "?"),
        [
            (
                "delivery",
                ("Where is my parcel?", "Où est mon colis ?"),
                (
                    "Follow your parcel with the tracking link in your confirmation email.",
                    "Suivez votre colis avec le lien de suivi de votre e-mail de confirmation.",
                ),
                [
                    {"kind": "self_service", "target": "https://help.omnidesk.invalid/tracking"},
                    {"kind": "chat", "max_ewt_seconds": 300},
                    {"kind": "email"},
                ],
            ),
            (
                "technical",
                ("My internet is down", "Ma connexion ne marche plus"),
                ("", ""),
                [{"kind": "chat", "max_ewt_seconds": 300}, {"kind": "phone", "target": "+33100000000"}],
            ),
        ],
    ),
]
# Self-service answers of the demo intents: the next-best-action panel offers them to the agent.
SELF_SERVICE = {
    "billing": "https://help.omnidesk.invalid/billing",
    "delivery": "https://help.omnidesk.invalid/tracking",
}
# Shared canned responses, English and French (picked by the customer's language). A shortcut named after an intent
# is the next best action's first suggestion for it, so the demo chat about a bill shows one at once.
CANNED = [
    (
        "hello",
        ("Greeting", "Salutation"),
        (
            "Hello {{customer.first_name|there}}, {{agent.first_name}} here. How can I help?",
            "Bonjour {{customer.first_name|}}, ici {{agent.first_name}}. Que puis-je faire pour vous ?",
        ),
    ),
    (
        "billing",
        ("Check a bill", "Vérifier une facture"),
        (
            "I am looking at your bill now. Could you tell me which line looks wrong? "
            "Every bill is also in your account: https://help.omnidesk.invalid/billing",
            "Je regarde votre facture. Quelle ligne vous semble fausse ? "
            "Toutes vos factures sont aussi dans votre espace client : https://help.omnidesk.invalid/billing",
        ),
    ),
    (
        "delivery",
        ("Where is the parcel", "Où est le colis"),
        (
            "Your parcel can be followed with the tracking link in your confirmation email. "
            "Shall I check its status for you?",
            "Votre colis se suit avec le lien de suivi de votre e-mail de confirmation. "
            "Voulez-vous que je vérifie son état ?",
        ),
    ),
]
DISPOSITIONS = [("resolved", "Resolved"), ("callback", "Callback needed"), ("escalated", "Escalated")]


class Command(BaseCommand):
    help = "Create the demo channels, queues, skills, intents and people (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--base-url", default=os.environ.get("OMNIDESK_BASE_URL", "http://127.0.0.1:8000"))

    @transaction.atomic
    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        base_url = base_url.rstrip("/")
        queues = {}
        for name, kinds, first_response, resolution in QUEUES:
            queue, created = Queue.objects.get_or_create(name=name)
            if created:
                queue.channel_kinds = kinds
                queue.business_hours = WEEKDAYS_9_TO_18
                queue.sla_first_response_minutes = first_response
                queue.sla_resolution_minutes = resolution
                queue.save()
            queues[name] = queue
        skills = {
            name: Skill.objects.get_or_create(name=name)[0] for name in ("French", "English", "Billing", "Technical")
        }
        billing = queues["Billing"]
        billing.required_skills.add(skills["Billing"])

        origins = {base_url, base_url.replace("127.0.0.1", "localhost"), base_url.replace("localhost", "127.0.0.1")}
        chat, _ = Channel.objects.get_or_create(
            kind=Channel.Kind.CHAT, name="Website chat", defaults={"queue": queues["Support"]}
        )
        # The demo page is served by the desk itself, so the desk's own origin must be allowed to embed the widget.
        chat.allowed_origins = sorted(set(chat.allowed_origins) | set(origins))
        chat.save(update_fields=["allowed_origins"])
        channels = []
        for kind, name, queue_name, config, secret_names in CHANNELS:
            channel, created = Channel.objects.get_or_create(
                kind=kind, name=name, defaults={"queue": queues[queue_name], "config": config}
            )
            if created:
                channel.secrets = {secret: secrets.token_hex(16) for secret in secret_names}
                channel.save(update_fields=["secrets"])
            channels.append(channel)

        for key, name, queue_name, keywords, examples, boost in INTENTS:
            Intent.objects.get_or_create(
                key=key,
                defaults={
                    "name": name,
                    "queue": queues[queue_name],
                    "keywords": keywords,
                    "examples": examples,
                    "priority_boost": boost,
                    "self_service_url": SELF_SERVICE.get(key, ""),
                },
            )
        Intent.objects.get_or_create(key="general", defaults={"name": "General question", "is_default": True})
        for position, (code, label) in enumerate(DISPOSITIONS):
            Disposition.objects.get_or_create(code=code, defaults={"label": label, "position": position})

        User = get_user_model()
        for username, first_name, role, proficiencies in PEOPLE:
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": first_name})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = role == AgentProfile.Role.SUPERVISOR
                user.is_superuser = role == AgentProfile.Role.SUPERVISOR
                user.save()
            profile, _ = AgentProfile.objects.update_or_create(
                user=user,
                # Everyone starts offline and becomes available when their desk connects; the supervisor watches
                # the floor and takes routed work only after choosing to.
                defaults={
                    "role": role,
                    "presence": AgentProfile.Presence.OFFLINE,
                    "takes_work": role == AgentProfile.Role.AGENT,
                },
            )
            for skill_name, proficiency in proficiencies.items():
                AgentSkill.objects.get_or_create(
                    agent=profile, skill=skills[skill_name], defaults={"proficiency": proficiency}
                )
            for queue in queues.values():
                if queue.name != "Billing" or "Billing" in proficiencies:
                    queue.members.add(user)
        seed_canned_responses(supervisor=User.objects.get(username="sophie"))
        by_kind = {channel.kind: channel for channel in channels}
        site = seed_contact_page(chat=chat, voice=by_kind[Channel.Kind.VOICE], email=by_kind[Channel.Kind.EMAIL])
        for queue in queues.values():
            # Surveys after resolution, so the reports' CSAT and NPS fill as the demo is used.
            QueueReportingSettings.objects.get_or_create(queue=queue, defaults={"surveys_enabled": True})
        hooks = [
            f"    {channel.name}: {base_url}{webhook_path(channel)}" for channel in channels if webhook_path(channel)
        ]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "omnidesk demo is ready:",
                    f"  Agent desk:        {base_url}/desk/",
                    f"  Supervisor view:   {base_url}/desk/supervisor/",
                    f"  Demo website chat: {base_url}/widget/demo/",
                    f"  Contact page:      {base_url}/contact/{site.key}/",
                    f"  Reports:           {base_url}/desk/reports/ (wallboard: {base_url}/desk/wallboard/)",
                    f"  Admin:             {base_url}/admin/",
                    f"  API docs:          {base_url}/api/docs/",
                    f"  Health:            {base_url}/healthz",
                    f"  Logins (password '{DEMO_PASSWORD}'): alice, bruno (agents), sophie (supervisor, admin)",
                    f'  Widget snippet: <script src="{base_url}/static/widget/omnidesk-widget.js" '
                    f'data-channel="{chat.public_key}" async></script>',
                    "  Webhook URLs (secrets: set them in the admin, they are never shown back):",
                    *hooks,
                    "",
                ]
            )
        )


def seed_canned_responses(*, supervisor: Any) -> None:
    """The shared demo answers, created once: a re-run keeps what the demo's users changed."""
    for shortcut, titles, bodies in CANNED:
        for language, title, body in zip(("en", "fr"), titles, bodies, strict=True):
            if not CannedResponse.objects.filter(
                scope=CannedResponse.Scope.GLOBAL, shortcut=shortcut, language=language
            ).exists():
                save_canned(
                    user=supervisor,
                    shortcut=shortcut,
                    title=title,
                    body=body,
                    language=language,
                    scope=CannedResponse.Scope.GLOBAL,
                )


def seed_contact_page(*, chat: Channel, voice: Channel, email: Channel) -> ContactSite:
    """The demo contact page on the website chat's key: two categories, four intents with their solutions."""
    site, created = ContactSite.objects.get_or_create(
        chat_channel=chat, defaults={"voice_channel": voice, "email_channel": email}
    )
    if not created:
        return site
    for position, ((label_en, label_fr, icon), intents) in enumerate(CONTACT_TREE):
        category = IntentNode.objects.create(
            site=site, position=position, label_en=label_en, label_fr=label_fr, icon=icon
        )
        for rank, (key, (intent_en, intent_fr), (answer_en, answer_fr), solutions) in enumerate(intents):
            node = IntentNode.objects.create(
                site=site,
                parent=category,
                intent=Intent.objects.get(key=key),
                position=rank,
                label_en=intent_en,
                label_fr=intent_fr,
            )
            publish_scenario(node=node, solutions=solutions, answer_en=answer_en, answer_fr=answer_fr)
    return site


def webhook_path(channel: Channel) -> str:
    """The URL to paste into the provider's console (the admin shows the same)."""
    if channel.kind == Channel.Kind.VOICE:
        return reverse("phone:cti-hook", kwargs={"channel": channel.uuid})
    if channel.kind == Channel.Kind.EMAIL:
        return reverse("mail:mailgun-inbound", kwargs={"channel_uuid": channel.uuid})
    if channel.kind == Channel.Kind.CHAT:
        return ""
    return messaging_webhook_path(channel)
