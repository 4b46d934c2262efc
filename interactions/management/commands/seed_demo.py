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
        base_url = base_url.rstrip("/")
        origins = {base_url, base_url.replace("127.0.0.1", "localhost"), base_url.replace("localhost", "127.0.0.1")}
        channel, _ = Channel.objects.get_or_create(
            kind=Channel.Kind.CHAT, name="Website chat", defaults={"queue": queue}
        )
        # The demo page is served by the desk itself, so the desk's own origin must be allowed to embed the widget.
        channel.allowed_origins = sorted(set(channel.allowed_origins) | set(origins))
        channel.save(update_fields=["allowed_origins"])
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
