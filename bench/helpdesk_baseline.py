"""django-helpdesk 2.6.1's own mailbox loop, timed: the baseline `bench.email_vs_helpdesk` compares omnidesk with.

Run ONLY by that benchmark, with the Python of a separate virtualenv holding django-helpdesk (never omnidesk's
requirements): `python bench/helpdesk_baseline.py <database url> <directory of .eml files>`. It configures a minimal
Django project in memory, migrates a fresh database, makes one queue whose mailbox is the directory ("local" box
type, helpdesk's documented way to read files), then times `helpdesk.email.process_queue` — the function its
`get_email` command runs per queue: read each file, parse, find or create the ticket, store the follow-up and its
attachments, delete the file. Prints one JSON line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from urllib.parse import urlsplit


def configure(database_url: str) -> None:
    import django
    from django.conf import settings

    url = urlsplit(database_url)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="helpdesk-baseline-only",
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        SITE_ID=1,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.sites",
            "django.contrib.humanize",
            "rest_framework",
            # helpdesk's migrations depend on its "teams" extra (pinax-teams and what it needs).
            "account",
            "pinax.invitations",
            "pinax.teams",
            "reversion",
            "helpdesk",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": url.path.lstrip("/"),
                "USER": url.username or "postgres",
                "HOST": url.hostname or "127.0.0.1",
                "PORT": url.port or 5432,
            }
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth"]},
            }
        ],
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        MEDIA_ROOT=os.environ.get("MEDIA_ROOT", "/tmp/helpdesk-baseline-media"),
        HELPDESK_ENABLE_ATTACHMENTS=True,
    )
    django.setup()


def main() -> None:
    database_url, mail_dir = sys.argv[1], sys.argv[2]
    configure(database_url)
    from django.core.management import call_command
    from helpdesk.email import process_queue
    from helpdesk.models import FollowUp, Queue, Ticket

    call_command("migrate", verbosity=0, interactive=False)
    queue = Queue.objects.create(
        title="Bench",
        slug="bench",
        email_address="support@bench.test",
        allow_email_submission=True,
        email_box_type="local",
        email_box_local_dir=mail_dir,
    )
    count = len(os.listdir(mail_dir))
    logger = logging.getLogger("helpdesk-baseline")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    started_cpu, started = time.process_time(), time.perf_counter()
    process_queue(queue, logger=logger)
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    left = len(os.listdir(mail_dir))
    print(
        json.dumps(
            {
                "messages": count,
                "processed": count - left,
                "tickets": Ticket.objects.count(),
                "followups": FollowUp.objects.count(),
                "seconds": round(seconds, 2),
                "msg_per_s": round((count - left) / seconds, 1),
                "cpu_ms_per_msg": round(1000 * cpu / max(count - left, 1), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
