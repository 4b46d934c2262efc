"""Demo data for `make run`: a website chat channel, a queue, two agents and a supervisor."""

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from interactions.models import Channel
from routing.models import AgentProfile, Queue

DEMO_PASSWORD = "demo-password"
PEOPLE = [
    ("alice", "Alice", AgentProfile.Role.AGENT),
    ("bruno", "Bruno", AgentProfile.Role.AGENT),
    ("sophie", "Sophie", AgentProfile.Role.SUPERVISOR),
]


class Command(BaseCommand):
    help = "Create the demo channel, queue and people (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--base-url", default=os.environ.get("OMNIDESK_BASE_URL", "http://127.0.0.1:8000"))

    @transaction.atomic
    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        queue, _ = Queue.objects.get_or_create(name="Support")
        origins = sorted({base_url.rstrip("/"), "http://127.0.0.1:8000", "http://localhost:8000"})
        channel, _ = Channel.objects.get_or_create(
            kind=Channel.Kind.CHAT, name="Website chat", defaults={"queue": queue, "allowed_origins": origins}
        )
        User = get_user_model()
        for username, first_name, role in PEOPLE:
            user, created = User.objects.get_or_create(username=username, defaults={"first_name": first_name})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = role == AgentProfile.Role.SUPERVISOR
                user.is_superuser = role == AgentProfile.Role.SUPERVISOR
                user.save()
            AgentProfile.objects.update_or_create(
                user=user, defaults={"role": role, "presence": AgentProfile.Presence.AVAILABLE}
            )
            queue.members.add(user)
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "omnidesk demo is ready:",
                    f"  Agent desk:        {base_url}/desk/",
                    f"  Demo website chat: {base_url}/widget/demo/",
                    f"  Admin:             {base_url}/admin/",
                    f"  Health:            {base_url}/healthz",
                    f"  Logins (password '{DEMO_PASSWORD}'): alice, bruno (agents), sophie (supervisor, admin)",
                    f'  Widget snippet: <script src="{base_url}/static/widget/omnidesk-widget.js" '
                    f'data-channel="{channel.public_key}" async></script>',
                    "",
                ]
            )
        )
