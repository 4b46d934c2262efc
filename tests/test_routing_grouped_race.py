"""Grouped decisions under a race: two processes sweep in groups (`route_queue(per_transaction=7)`, matched in
memory and written in one statement, routing/matching.py) while two others decide one at a time (`route_next`), on
the race test's population (2,000 items, 100 agents, most blending capacity in units). A group whose chosen agent a
rival changed between its read and its write writes nothing and decides one at a time: no item twice, no agent over
its limits or units, the load counters equal to the history."""

from __future__ import annotations

import pytest

from tests.test_routing_race import WORKER, assert_race_left_consistent_state, build_population, run_deciders

# The session stack's worker (embedded beat: routing and SLA sweeps) must not touch the race's rows: one full run
# deadlocked building the population against it (build_population's UPDATE of the conversations).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("session_worker_paused")]


def test_grouped_and_single_deciders_never_overfill_an_agent_nor_assign_an_item_twice() -> None:
    build_population()
    run_deciders(worker=WORKER, args=["grouped", "single", "grouped", "single"])
    assert_race_left_consistent_state()
