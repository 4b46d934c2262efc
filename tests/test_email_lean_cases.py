"""A new case and its first entry are written in one statement (interactions/inbound_bulk.py `create_case_now`).

The case's INSERT is a WITH clause whose id the entry's INSERT takes: one round trip per new case instead of two, the
same rows. These tests open cases through the mail batch and check the statement, and that the rows are what the
two INSERTs made (the entry's case, the case as the entry holds it, the entry's post_save receivers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from interactions import inbound
from interactions.mail.services import record_raw_mail
from interactions.models import Conversation, Interaction
from routing.models import Queue, RoutingItem
from tests.conftest import make_user
from tests.mail_support import email_channel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def mail(n: int) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.com>\r\nTo: support@example.com\r\nSubject: Order {n}\r\n"
        f"Message-ID: <lean-{n}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is parcel {n}?\r\n"
    ).encode()


def test_a_new_case_and_its_first_entry_are_inserted_by_one_statement() -> None:
    queue = Queue.objects.create(name="Support")
    make_user("alice", queues=[queue], capacity={"email": 1})
    channel = email_channel(queue)
    events = [record_raw_mail(channel=channel, raw=mail(n), source="test")[0].pk for n in range(3)]
    saved: list[tuple[int, int | None]] = []

    def entry_saved(instance: Interaction, created: bool, **_kwargs: Any) -> None:
        if created:  # the receiver sees the entry with its id and its case's, both rows written
            saved.append((instance.pk, Conversation.objects.filter(pk=instance.conversation_id).count()))

    post_save.connect(entry_saved, sender=Interaction, weak=False)
    try:
        with CaptureQueriesContext(connection) as queries:
            inbound.process_claimed_events(event_ids=events)
    finally:
        post_save.disconnect(entry_saved, sender=Interaction)

    statements = [query["sql"] for query in queries.captured_queries]
    table = f'INSERT INTO "{Conversation._meta.db_table}"'
    assert sum(sql.startswith("WITH new_case AS (" + table) for sql in statements) == 3
    assert not any(sql.startswith(table) for sql in statements), "no case inserted on its own"
    entries = list(Interaction.objects.filter(channel=channel).select_related("conversation").order_by("pk"))
    assert [entry.external_id for entry in entries] == [f"lean-{n}@example.com" for n in range(3)]
    assert len({entry.conversation_id for entry in entries}) == 3
    assert all(entry.conversation.customer_id == entry.customer_id for entry in entries)
    assert sorted(saved) == [(entry.pk, 1) for entry in entries]
    states = sorted(RoutingItem.objects.filter(queue=queue).values_list("state", flat=True))
    assert states == sorted([RoutingItem.State.ASSIGNED, RoutingItem.State.WAITING, RoutingItem.State.WAITING])
