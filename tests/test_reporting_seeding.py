"""seed_volume also writes reporting events and rollups whose sums match the events (one sixth of each kind)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.models import Sum

from reporting.models import EventKind, IntervalStat, ReportingEvent

pytestmark = pytest.mark.django_db


def test_it_seeds_reporting_events_and_rollups_that_agree() -> None:
    call_command("seed_volume", interactions=300, customers=12, big_customer=40, seed=7, stdout=io.StringIO())
    assert ReportingEvent.objects.count() == 300
    offered = ReportingEvent.objects.filter(kind=EventKind.OFFERED_TO_QUEUE).count()
    answered = ReportingEvent.objects.filter(kind=EventKind.ANSWERED)
    sums = IntervalStat.objects.aggregate(
        offered=Sum("offered"), answered=Sum("answered"), wait=Sum("answer_wait_seconds")
    )
    assert offered == 50 and sums["offered"] == offered
    assert sums["answered"] == answered.count()
    assert sums["wait"] == pytest.approx(answered.aggregate(w=Sum("duration_seconds"))["w"])
    assert not ReportingEvent.objects.filter(bucket__minute__in=[1, 2, 7, 14, 16, 44]).exists()
