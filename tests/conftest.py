"""The people of the tests, the channels they work on, and the real stack they use.

The people (each a fixture of the same name; every agent is available and logs in with PASSWORD):
- alice: an agent of the Support team, the one the work usually goes to;
- bruno: a second agent of the Support team, Alice's teammate: the other agent on the same work (collisions,
  transfers, who routing picks between two, a mention);
- oscar: an agent of another team (Billing): may not see Support's conversations beyond what access grants;
- fiona: an agent of the confidential Fraud team (its conversations are metadata only for everyone else);
- sophie: a supervisor, who also administers the desk (`is_staff`, `is_superuser`), member of no queue;
- stan: an `is_staff` user who is only an agent, of no queue (staff is not a supervisor);
- dora: a former agent of the Support team, deactivated: she sees nothing;
- carla: a customer (not a user) who chats from the website;
- jeanne: a known customer, verified jeanne@example.com, with an earlier (resolved) chat on the website.

The teams' queues: support_queue, billing_queue, fraud_queue (confidential). The channels, all of the Support queue:
- chat_channel: the website's chat widget (origin http://shop.example);
- email_channel: a bare email channel (no address, no secrets);
- mailbox: support@example.com, receiving by Mailgun webhook (tests/mail_support.py); a module or test adds config
  with `@pytest.mark.mailbox(acknowledgement=…)`;
- hotline: the voice line, signed CTI and Twilio (tests/phone_factories.py); config with `@pytest.mark.hotline(…)`.
`media_root` points MEDIA_ROOT at a temporary folder (`pytest.mark.usefixtures("media_root")` for a whole module);
`provider` is a fake messaging provider's HTTP server (tests/messaging_support.py).
Signed webhooks: tests/signing.py; the realtime events a block published: tests/events.py.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import redis
from django.conf import settings
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.test import TransactionTestCase
from playwright.sync_api import Browser, sync_playwright

from customers.models import Customer, Identity
from interactions.models import Channel, Conversation
from routing.models import AgentProfile, Intent, Queue
from tests import mail_support, phone_factories
from tests.browser import launch_chromium
from tests.factories import customer_with_earlier_chat
from tests.messaging_support import FakeProvider, running_provider
from tests.stack import Stack, wait_until

# Playwright's sync API and the websocket helpers run an event loop in the test's thread; the ORM calls the tests
# make there are plain blocking setup and assertions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


def _flush_retrying_on_deadlock(teardown: Any) -> Any:
    """Transactional tests end with a TRUNCATE of every table while the session's live worker and beat keep running.

    A TRUNCATE that meets one of their short transactions (a sweep locking rows) can deadlock, and PostgreSQL may pick
    the TRUNCATE as the victim. The worker's transaction ends within milliseconds, so flushing again is correct.
    """

    def flush(self: Any) -> Any:
        attempts = 10
        for attempt in range(attempts):
            try:
                return teardown(self)
            except (CommandError, OperationalError) as error:
                # flush's CommandError names no cause in its text: the deadlock is in the chained exception.
                if "deadlock" not in f"{error} {error.__cause__}" or attempt == attempts - 1:
                    raise
                # A flood test leaves the worker a backlog: retrying at once met its next transaction every time
                # (five deadlocks in a row). Retry once no other session of this database is inside a transaction.
                # A worker that never pauses times this out: the next attempt may still find a gap.
                with contextlib.suppress(TimeoutError):
                    wait_until(_others_idle, timeout=5.0, message="the live worker's transactions to end")
        return None

    return flush


def _others_idle() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND xact_start IS NOT NULL"
        )
        (busy,) = cursor.fetchone()
    return busy == 0


TransactionTestCase._fixture_teardown = _flush_retrying_on_deadlock(TransactionTestCase._fixture_teardown)  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mailbox(**config): the `mailbox` fixture's config beyond its defaults")
    config.addinivalue_line("markers", "hotline(**config): the `hotline` fixture's config beyond its defaults")
    if not (settings.DATABASE_URL.startswith("postgres") and settings.REDIS_URL):
        raise pytest.UsageError("run the suite with `make test` (DATABASE_URL=postgres://… and REDIS_URL=redis://…)")


@pytest.fixture(scope="session", autouse=True)
def clean_redis() -> None:
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(scope="session", autouse=True)
def drop_stray_connections(django_db_setup: None) -> Iterator[None]:
    """Connections left by consumer threads would keep the test database from being dropped at the end."""
    db = dict(connection.settings_dict)
    yield
    with (
        psycopg2.connect(
            dbname="postgres", host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres"
        ) as admin,
        admin.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db["NAME"]],
        )


@pytest.fixture(scope="session")
def stack(django_db_setup: None, django_db_blocker: Any) -> Iterator[Stack]:
    """uvicorn and a Celery worker (with beat) on the test database, started once for the session."""
    # The connection's settings carry the test database's name once django_db_setup created it; settings.DATABASES
    # may still name the real database when no test of the session has used `db` yet.
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    running = Stack(
        database_url=database_url,
        redis_url=settings.REDIS_URL,
        worker_beat=True,
        extra_env={"OMNIDESK_INBOUND_RETRY_AFTER": "3", "OMNIDESK_SWEEP_INTERVAL": "1"},
    )
    try:
        running.start()
        _session_stacks.append(running)
        yield running
    finally:
        _session_stacks.clear()
        running.stop()


_session_stacks: list[Stack] = []


@pytest.fixture
def session_worker_paused() -> Iterator[None]:
    """For tests that process committed inbound events by hand, or run a worker of their own on the test database:
    the session stack's worker, once an earlier test started it, races them for those events (its nudged tasks and
    its 1 s sweeper claim them), which made such tests fail or hang depending on the order. It is stopped for the
    test and started again after it."""
    paused = [running for running in _session_stacks if running.worker is not None]
    for running in paused:
        Stack._stop(running.worker)
        running.worker = None
    yield
    for running in paused:
        running.start_worker()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, one per test module."""
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


def make_user(
    username: str,
    *,
    role: str = AgentProfile.Role.AGENT,
    queues: list[Queue] = (),  # type: ignore[assignment]
    capacity: dict[str, int] | None = None,
    **extra: Any,
) -> Any:
    """A user with an available agent profile; `capacity` overrides the defaults (chat 3, voice 1, email 5)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, first_name=username.capitalize(), **extra
    )
    capacities = {f"{kind}_capacity": value for kind, value in (capacity or {}).items()}
    AgentProfile.objects.create(user=user, role=role, presence=AgentProfile.Presence.AVAILABLE, **capacities)
    for queue in queues:
        queue.members.add(user)
    return user


@pytest.fixture
def support_queue(db: None) -> Queue:
    return Queue.objects.create(name="Support")


@pytest.fixture
def billing_queue(db: None) -> Queue:
    return Queue.objects.create(name="Billing")


@pytest.fixture
def alice(support_queue: Queue) -> Any:
    """An agent of the Support team."""
    return make_user("alice", queues=[support_queue])


@pytest.fixture
def oscar(billing_queue: Queue) -> Any:
    """An agent of another team (Billing)."""
    return make_user("oscar", queues=[billing_queue])


@pytest.fixture
def sophie(db: None) -> Any:
    """A supervisor, who also administers the desk."""
    return make_user("sophie", role=AgentProfile.Role.SUPERVISOR, is_staff=True, is_superuser=True)


@pytest.fixture
def bruno(support_queue: Queue) -> Any:
    """A second agent of the Support team, Alice's teammate."""
    return make_user("bruno", queues=[support_queue])


@pytest.fixture
def fraud_queue(db: None) -> Queue:
    """A confidential queue: for non-members its conversations are metadata only."""
    return Queue.objects.create(name="Fraud", confidential=True)


@pytest.fixture
def fiona(fraud_queue: Queue) -> Any:
    """An agent of the confidential Fraud team."""
    return make_user("fiona", queues=[fraud_queue])


@pytest.fixture
def stan(db: None) -> Any:
    """A staff user (he may log into the admin) who is only an agent, of no queue: not a supervisor."""
    return make_user("stan", is_staff=True)


@pytest.fixture
def dora(support_queue: Queue) -> Any:
    """A former agent of the Support team, deactivated: she sees nothing."""
    return make_user("dora", queues=[support_queue], is_active=False)


@pytest.fixture
def intents(billing_queue: Queue) -> dict[str, Intent]:
    """Two detectable intents (keywords and examples in French and English), for the continuity rules."""
    billing = Intent.objects.create(
        key="billing",
        name="Billing",
        keywords=["facture", "invoice", "remboursement", "refund"],
        examples=["ma facture est fausse", "I was charged twice on my invoice"],
    )
    delivery = Intent.objects.create(
        key="delivery",
        name="Delivery",
        keywords=["livraison", "colis", "delivery", "parcel"],
        examples=["mon colis n'est pas arrivé", "where is my parcel"],
    )
    return {"billing": billing, "delivery": delivery}


@pytest.fixture
def chat_channel(support_queue: Queue) -> Channel:
    return Channel.objects.create(
        kind=Channel.Kind.CHAT, name="Website", queue=support_queue, allowed_origins=["http://shop.example"]
    )


@pytest.fixture
def email_channel(support_queue: Queue) -> Channel:
    return Channel.objects.create(kind=Channel.Kind.EMAIL, name="Support mailbox", queue=support_queue)


def _marked_config(request: pytest.FixtureRequest, marker: str) -> dict[str, Any]:
    closest = request.node.get_closest_marker(marker)
    return dict(closest.kwargs) if closest else {}


@pytest.fixture
def mailbox(request: pytest.FixtureRequest, support_queue: Queue) -> Channel:
    """support@example.com, receiving by Mailgun webhook; `@pytest.mark.mailbox(**config)` adds to its config."""
    return mail_support.email_channel(support_queue, **_marked_config(request, "mailbox"))


@pytest.fixture
def hotline(request: pytest.FixtureRequest, support_queue: Queue) -> Channel:
    """The Support voice line (CTI and Twilio secrets); `@pytest.mark.hotline(**config)` adds to its config."""
    return phone_factories.phone_channel(support_queue, **_marked_config(request, "hotline"))


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Uploaded and received files go to a temporary folder, not the checkout's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def arrive(db: None) -> Callable[..., Conversation]:
    """A customer's first message on `channel`, ingested as the worker does it: a new conversation, routed."""

    def arrive(channel: Channel, *, text: str = "Bonjour", tier: str = Customer.ValueTier.STANDARD) -> Conversation:
        from django.db import transaction

        from interactions.services import receive_message

        customer = Customer.objects.create(display_name=f"Customer {uuid.uuid4().hex[:6]}", value_tier=tier)
        with transaction.atomic():
            interaction = receive_message(customer=customer, channel=channel, external_id=uuid.uuid4().hex, text=text)
        return Conversation.objects.select_related("assignee", "queue").get(pk=interaction.conversation_id)

    return arrive


@pytest.fixture
def carla(db: None) -> Customer:
    """A customer who chats from the website."""
    customer = Customer.objects.create(display_name="Carla")
    Identity.objects.create(customer=customer, kind=Identity.Kind.WIDGET, address="carla-visitor")
    return customer


@pytest.fixture
def jeanne(chat_channel: Channel) -> Customer:
    """A known customer with a verified email and an earlier chat on the website."""
    return customer_with_earlier_chat(chat_channel, text="Ma commande 4521 n'est pas arrivée")


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    """A fake messaging provider's HTTP server: channels built with its url send to it, tests read what it got."""
    with running_provider() as server:
        yield server
