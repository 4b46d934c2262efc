"""After an erasure commits, the tables it rewrote are vacuumed, so the old row versions leave the disk now."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from customers import gdpr
from customers.models import Customer, Identity
from customers.tasks import vacuum_after_erasure


def last_vacuum(table: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_it_vacuums_the_tables_erasure_rewrote(sophie: Any) -> None:
    zoe = Customer.objects.create(display_name="Zoé Lambertini")
    Identity.objects.create(customer=zoe, kind=Identity.Kind.EMAIL, address="zoe@example.com")
    before = last_vacuum("interactions_interaction")

    gdpr.erase_customer(customer=zoe, by=sophie)
    vacuumed = vacuum_after_erasure.apply().get()

    assert {"customers_customer", "customers_identity", "interactions_interaction", "omnidesk_event"} <= set(vacuumed)
    after = last_vacuum("interactions_interaction")
    assert after is not None and after != before


@pytest.mark.django_db
def test_it_does_not_vacuum_inside_a_transaction() -> None:
    assert gdpr.vacuum_erased_tables() == []
