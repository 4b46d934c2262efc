"""`manage.py seed_volume` at a tiny size on PostgreSQL: every table gets its rows, every NOT NULL column a value."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from customers.management.commands import seed_volume
from customers.models import Customer, Identity
from interactions.models import Conversation, Interaction

pytestmark = pytest.mark.django_db


def test_it_loads_the_requested_volume_with_every_required_column_written() -> None:
    out = io.StringIO()

    call_command("seed_volume", interactions=300, customers=12, big_customer=40, seed=7, stdout=out)

    assert Customer.objects.count() == 12
    assert Identity.objects.count() == 24
    assert Conversation.objects.count() == 12
    assert Interaction.objects.count() == 300
    big = Identity.objects.get(address=seed_volume.BIG_CUSTOMER_EMAIL).customer
    assert Interaction.objects.filter(customer=big).count() == 40
    # The columns the COPY leaves to the models' defaults (priority is NOT NULL without a database default).
    assert set(Conversation.objects.values_list("priority", flat=True)) == {0}
    assert set(Interaction.objects.values_list("status", "html", "error")) == {("received", "", "")}
    assert all(meta == {} for meta in Interaction.objects.values_list("meta", flat=True))
    assert "seed_volume: done" in out.getvalue()
    with connection.cursor() as cursor:  # the search index is back after the bulk load
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'interaction_text_fts'")
        assert cursor.fetchone() == (1,)


def test_it_defaults_every_not_null_column_it_does_not_write() -> None:
    filled = seed_volume._defaults_of_other_columns(Conversation, ["id", "customer_id", "channel_id"])
    assert filled["priority"] == "0" and filled["status"] == "open"
    assert "assignee_id" not in filled  # nullable: left NULL
