"""A mail batch's prelude reads its senders, their cases' routing items and its threads with SQL it does not compile
again for every batch: compiled once per number of rows (omnidesk/compiled_queries.py) or one text with array
parameters. Each read answers as the queryset it replaces (customers/batch.py, interactions/inbound_bulk.py,
interactions/mail/threads.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext

from customers import batch
from customers.models import Customer, Identity
from interactions import inbound, inbound_bulk
from interactions.mail import threads
from interactions.mail.models import MessageReference
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, Conversation, InboundEvent
from routing.models import Queue, RoutingItem
from tests.conftest import make_user
from tests.mail_support import email_channel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def mail(n: int, *, replies_to: int | None = None) -> bytes:
    parent = f"In-Reply-To: <batch-{replies_to}@example.com>\r\n" if replies_to is not None else ""
    return (
        f"From: Customer {n % 3} <customer{n % 3}@example.com>\r\nTo: support@example.com\r\nSubject: Order\r\n"
        f"Message-ID: <batch-{n}@example.com>\r\n{parent}Content-Type: text/plain\r\n\r\nParcel {n}?\r\n"
    ).encode()


@pytest.fixture
def mailbox() -> Channel:
    queue = Queue.objects.create(name="Support")
    make_user("alice", queues=[queue], capacity={"email": 2})
    channel = email_channel(queue)
    first = [record_raw_mail(channel=channel, raw=mail(n), source="test")[0].pk for n in range(3)]
    inbound.process_claimed_events(event_ids=first)
    return channel


def fields_of(instance: models.Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_prelude_reads_answer_as_their_querysets(mailbox: Channel) -> None:
    wanted = {"batch-0@example.com", "batch-2@example.com", "batch-9@example.com"}
    record_raw_mail(channel=mailbox, raw=mail(9), source="test")  # stored, not processed
    with transaction.atomic():
        references = MessageReference.objects.filter(
            message_id__in=wanted, conversation__channel=mailbox
        ).select_related("conversation")
        expected_cases = {r.message_id: fields_of(r.conversation) for r in references}
        assert len(expected_cases) == 2
        assert {k: fields_of(v) for k, v in threads._referenced_cases(mailbox, wanted).items()} == expected_cases
        assert all(not hasattr(case, "referenced_by") for case in threads._referenced_cases(mailbox, wanted).values())
        pending = InboundEvent.objects.filter(
            channel_id=mailbox.pk, external_id__in=wanted, processed_at__isnull=True, dead_lettered_at__isnull=True
        ).values_list("external_id", "id")
        assert sorted(threads._pending_events(mailbox, wanted)) == sorted(pending) != []

        kinds, addresses = {"email"}, {"customer0@example.com", "customer2@example.com", "nobody@example.com"}
        identities = Identity.objects.filter(kind__in=kinds, address__in=addresses).values_list(
            "kind", "address", "customer_id"
        )
        assert sorted(batch._identities(kinds=kinds, addresses=addresses)) == sorted(identities)
        assert len(identities) == 2

        ids = sorted(Customer.objects.values_list("pk", flat=True))
        locked = batch._lock(set(ids))
        assert {pk: fields_of(c) for pk, c in locked.items()} == {c.pk: fields_of(c) for c in Customer.objects.all()}

        cases = list(Conversation.objects.filter(channel=mailbox).values_list("pk", flat=True))
        items = list(inbound_bulk.items_to_lock(conversation_ids=cases))
        with inbound_bulk.deferring(expected=3):
            for case_id in cases:
                known, item = inbound_bulk.locked_routing_item(conversation_id=case_id, candidates=lambda: cases)
                assert known and item is not None
                assert fields_of(item) == fields_of(next(i for i in items if i.conversation_id == case_id))
            assert inbound_bulk.locked_routing_item(conversation_id=-5, candidates=lambda: cases) == (False, None)
        assert RoutingItem.objects.filter(conversation_id__in=cases).count() == len(items) == 3


def test_a_batch_of_replies_reads_its_threads_and_senders_with_array_parameters(mailbox: Channel) -> None:
    replies = [
        record_raw_mail(channel=mailbox, raw=mail(n, replies_to=n - 3), source="test")[0].pk for n in range(3, 6)
    ]
    with CaptureQueriesContext(connection) as queries:
        made = inbound.process_claimed_events(event_ids=replies)
    assert all(entry is not None and entry.meta.get("threaded_by") for entry in made.values())
    statements = [query["sql"] for query in queries.captured_queries]
    assert sum("r.message_id = ANY(" in sql for sql in statements) == 1
    assert sum("external_id = ANY(" in sql for sql in statements) == 1
    assert sum("address = ANY(" in sql for sql in statements) == 1
    assert not any('"customers_identity"."address" IN (' in sql for sql in statements)
