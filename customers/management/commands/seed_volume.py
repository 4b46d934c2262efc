"""`manage.py seed_volume`: a large CRM data set for the search and timeline benchmarks (PostgreSQL only).

Bulk-loads with COPY: customers (each with an email and a phone identity), one conversation per customer, and
interactions with French/English texts whose vocabulary has words of known frequency (SEARCH_TERMS), plus one "big"
customer (identity BIG_CUSTOMER_EMAIL) holding --big-customer interactions. Prints the time spent per table.
"""

from __future__ import annotations

import importlib
import io
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction

from customers.models import Customer, Identity
from interactions.models import Channel, Conversation, Interaction
from reporting.seeding import seed_reporting
from routing.models import AgentProfile, Queue

BIG_CUSTOMER_EMAIL = "big.customer@volume.test"
SUPERVISOR_USERNAME = "volume-supervisor"
AGENT_USERNAME = "volume-agent"  # member of the first of QUEUES only: sees a quarter of the customers
QUEUES = ("Volume A", "Volume B", "Volume C", "Volume D")

# Words of known frequency in the generated texts, for the search benchmark.
COMMON_WORDS = {"bonjour": 0.5, "merci": 0.35, "hello": 0.2}  # share of the messages containing the word
MID_WORDS = {"remboursement": 0.01, "livraison": 0.01, "refund": 0.008, "invoice": 0.008}


def _words(text: str) -> list[str]:
    return text.split()


RARE_WORDS = ("kaleidoscope", "zeppelin", "xylophone", "quetzal", "ornithorynque", "zigouigoui")
RARE_PER_MILLION = 50  # messages containing each rare word, per million interactions
SEARCH_TERMS: dict[str, list[str]] = {
    "rare": list(RARE_WORDS[:3]),
    "mid": ["remboursement", "livraison", "refund"],
    "common": ["bonjour", "merci", "hello"],
}
FILLER = _words(
    "je voudrais savoir où en est ma commande numéro depuis la semaine dernière le colis n'est toujours pas "
    "arrivé pouvez-vous vérifier avec le transporteur s'il vous plaît mon adresse a changé le produit est abîmé "
    "i would like to know the status of my order it has not arrived yet could you please check with the carrier "
    "my address changed the item was damaged when it arrived thanks for your help best regards cordialement "
    "bonne journée taille couleur échange retour garantie compte mot de passe connexion application paiement "
    "carte bancaire abonnement résiliation account password login payment subscription cancel size colour "
    "exchange return warranty question problème urgent rapidement demain aujourd'hui hier today tomorrow"
)
FIRST_NAMES = _words(
    "Camille Dominique Claude Alex Sacha Jean Marie Louis Léa Emma Chloé Hugo Lucas Nathan Inès Sarah Paul Julie "
    "Thomas Manon Olivia Noah Liam Mia Ethan Ava James Sophia Oliver Amelia Karim Yasmine Mehdi Fatou Moussa Aïcha"
)
LAST_NAMES = _words(
    "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefebvre Michel Garcia "
    "David Bertrand Roux Vincent Fournier Morel Girard André Mercier Dupont Lambert Bonnet François Martinez Smith "
    "Johnson Williams Brown Jones Miller Davis Wilson Taylor Anderson Nguyen Diallo Benali Kowalski Rossi Müller"
)
BATCH = 100_000
CONVERSATION_COLUMNS = ["id", "customer_id", "channel_id", "status", "queue_id", "created_at", "updated_at"]
CONVERSATION_COLUMNS += ["last_message_at"]
TABLES = ("customers_customer", "customers_identity", "interactions_conversation", "interactions_interaction")


def _search_indexes() -> dict[str, str]:
    return dict(importlib.import_module("interactions.migrations.0003_search_indexes").INDEXES)


def _copy_text(field: models.Field[Any, Any], value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _defaults_of_other_columns(model: type[models.Model], columns: list[str]) -> dict[str, str | None]:
    """The value to write in every NOT NULL column of `model` that `columns` leaves out: its field's default.

    A column added later with NOT NULL and a Python-side default (the database has none) would otherwise make COPY
    fail, as `priority` did; a NOT NULL column with no default at all is refused here with its name.
    """
    now = datetime.now(tz=UTC)
    filled: dict[str, str | None] = {}
    for field in model._meta.concrete_fields:
        if field.column in columns or field.null or isinstance(field, models.AutoField):
            continue
        if field.has_default():
            value = field.get_default()
        elif field.db_default is not models.NOT_PROVIDED:
            continue  # the database writes it
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif isinstance(field, models.CharField | models.TextField) and field.blank:
            value = ""
        else:
            raise CommandError(f"seed_volume does not know what to write in {model._meta.db_table}.{field.column}")
        filled[str(field.column)] = _copy_text(field, value)
    return filled


def _copy_model(model: type[models.Model], columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    """COPY rows of `columns` into `model`'s table, every other NOT NULL column getting its field's default."""
    others = _defaults_of_other_columns(model, columns)
    extra = tuple(others.values())
    return _copy(model._meta.db_table, [*columns, *others], (row + extra for row in rows))


def _copy(table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    """COPY rows into `table`, BATCH rows at a time. Values must not contain tabs, newlines or backslashes."""
    raw = connection.cursor().cursor
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    count = 0
    while True:
        buffer = io.StringIO()
        n = 0
        for row in rows:
            buffer.write("\t".join(r"\N" if value is None else str(value) for value in row))
            buffer.write("\n")
            n += 1
            if n == BATCH:
                break
        if n == 0:
            return count
        buffer.seek(0)
        raw.copy_expert(sql, buffer)
        count += n
        if n < BATCH:
            return count


def _next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return int(cursor.fetchone()[0])


def _reset_sequence(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")


class Command(BaseCommand):
    help = "Bulk-load a large CRM data set (customers, identities, conversations, interactions) into PostgreSQL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interactions", type=int, default=1_000_000)
        parser.add_argument("--customers", type=int, default=50_000)
        parser.add_argument("--big-customer", type=int, default=10_000, help="interactions of the big customer")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--reporting-days", type=int, default=90, help="span of the generated reporting events")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("seed_volume needs PostgreSQL (set DATABASE_URL=postgres://…); it refuses SQLite.")
        total, n_customers, big = options["interactions"], options["customers"], options["big_customer"]
        if n_customers < 2 or big > total:
            raise CommandError("need at least 2 customers and --big-customer <= --interactions")
        rng = random.Random(options["seed"])
        started = time.monotonic()
        with transaction.atomic():
            channels, queue_of = self._people_and_channels()
            self._load(rng, total=total, n_customers=n_customers, big=big, channels=channels, queue_of=queue_of)
        self._timed("analyze", lambda: self._analyze())
        # rep: reporting events and their 15-minute rollups, spread over the last --reporting-days days.
        self._timed("reporting events and rollups", lambda: seed_reporting(days=options["reporting_days"])[0])
        self.stdout.write(f"seed_volume: done in {time.monotonic() - started:.1f} s")

    def _timed(self, label: str, work: Any) -> Any:
        started = time.monotonic()
        result = work()
        rows = f"{result} rows, " if isinstance(result, int) else ""
        self.stdout.write(f"seed_volume: {label}: {rows}{time.monotonic() - started:.1f} s")
        return result

    def _people_and_channels(self) -> tuple[list[int], list[int]]:
        users = get_user_model()
        supervisor, _ = users.objects.get_or_create(username=SUPERVISOR_USERNAME, defaults={"first_name": "Vol"})
        AgentProfile.objects.update_or_create(user=supervisor, defaults={"role": AgentProfile.Role.SUPERVISOR})
        agent, _ = users.objects.get_or_create(username=AGENT_USERNAME, defaults={"first_name": "Vol"})
        AgentProfile.objects.update_or_create(user=agent, defaults={"role": AgentProfile.Role.AGENT})
        channels, queues = [], []
        for name in QUEUES:
            queue, _ = Queue.objects.get_or_create(name=name)
            channel, _ = Channel.objects.get_or_create(
                kind=Channel.Kind.EMAIL, name=f"{name} mailbox", defaults={"queue": queue}
            )
            channels.append(channel.pk)
            queues.append(queue.pk)
        Queue.objects.get(pk=queues[0]).members.add(agent)
        return channels, queues

    def _load(
        self, rng: random.Random, *, total: int, n_customers: int, big: int, channels: list[int], queue_of: list[int]
    ) -> None:
        now = datetime.now(tz=UTC)
        start = now - timedelta(days=730)
        first_customer = _next_id("customers_customer")
        customer_ids = range(first_customer, first_customer + n_customers)
        big_customer = first_customer  # the first one; BIG_CUSTOMER_EMAIL finds it
        names = {cid: f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for cid in customer_ids}

        def customers() -> Iterator[tuple[Any, ...]]:
            for cid in customer_ids:
                stamp = start.isoformat()
                yield (cid, names[cid], "fr" if cid % 3 else "en", "", "standard", "{}", stamp, stamp)

        self._timed(
            "customers_customer",
            lambda: _copy_model(
                Customer,
                ["id", "display_name", "language", "segment", "value_tier", "attributes", "created_at", "updated_at"],
                customers(),
            ),
        )

        def identities() -> Iterator[tuple[Any, ...]]:
            stamp = start.isoformat()
            for cid in customer_ids:
                if cid == big_customer:
                    email = BIG_CUSTOMER_EMAIL
                else:
                    email = f"{names[cid].lower().replace(' ', '.')}.{cid}@example.com"
                yield (cid, "email", email, "true", stamp)
                yield (cid, "phone", f"+336{cid:08d}", "false", stamp)

        self._timed(
            "customers_identity",
            lambda: _copy_model(Identity, ["customer_id", "kind", "address", "verified", "created_at"], identities()),
        )

        first_conversation = _next_id("interactions_conversation")

        def conversation_of(cid: int) -> int:
            return first_conversation + (cid - first_customer)

        def slot(cid: int) -> int:
            return (cid - first_customer) % len(channels)

        def conversations() -> Iterator[tuple[Any, ...]]:
            for cid in customer_ids:
                stamp = now.isoformat()
                status = "open" if cid % 10 == 0 else "resolved"
                yield (conversation_of(cid), cid, channels[slot(cid)], status, queue_of[slot(cid)], stamp, stamp, stamp)

        self._timed(
            "interactions_conversation",
            lambda: _copy_model(
                Conversation,
                CONVERSATION_COLUMNS,
                conversations(),
            ),
        )

        first_interaction = _next_id("interactions_interaction")
        per_word = max(1, total * RARE_PER_MILLION // 1_000_000)
        rare_at = {word: set(rng.sample(range(total), per_word)) for word in RARE_WORDS}
        big_at = set(rng.sample(range(total), big))
        step = (now - start) / total
        others = n_customers - 1

        def text(i: int) -> str:
            words = rng.choices(FILLER, k=rng.randint(5, 14))
            for word, share in (*COMMON_WORDS.items(), *MID_WORDS.items()):
                if rng.random() < share:
                    words.insert(rng.randint(0, len(words)), word)
            for word, positions in rare_at.items():
                if i in positions:
                    words.insert(rng.randint(0, len(words)), word)
            return " ".join(words)

        def interactions() -> Iterator[tuple[Any, ...]]:
            for i in range(total):
                cid = big_customer if i in big_at else first_customer + 1 + rng.randrange(others)
                direction = "in" if rng.random() < 0.6 else "out"
                stamp = (start + step * i).isoformat()
                yield (
                    first_interaction + i,
                    conversation_of(cid),
                    cid,
                    channels[slot(cid)],
                    "message",
                    direction,
                    text(i),
                    stamp,
                )

        indexes = _search_indexes()
        with connection.cursor() as cursor:  # building the GIN index once is far faster than maintaining it
            cursor.execute("DROP INDEX IF EXISTS interaction_text_fts")
        self._timed(
            "interactions_interaction",
            lambda: _copy_model(
                Interaction,
                ["id", "conversation_id", "customer_id", "channel_id", "kind", "direction", "text", "created_at"],
                interactions(),
            ),
        )

        def rebuild() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks would block CREATE INDEX
                cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                cursor.execute(f"CREATE INDEX IF NOT EXISTS interaction_text_fts ON {indexes['interaction_text_fts']}")

        self._timed("index interaction_text_fts", rebuild)
        for table in TABLES:
            _reset_sequence(table)

    def _analyze(self) -> None:
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"ANALYZE {table}")
