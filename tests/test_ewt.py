"""Estimated wait time from the position in line, the agents able to serve and the average handle time."""

from __future__ import annotations

import pytest

from routing.ewt import estimate_wait_seconds, smooth


def test_it_estimates_position_times_handle_time_over_agents() -> None:
    assert estimate_wait_seconds(position=1, agents=1, aht_seconds=300) == 300
    assert estimate_wait_seconds(position=6, agents=3, aht_seconds=180) == 360


def test_it_promises_no_wait_within_the_free_capacity() -> None:
    assert estimate_wait_seconds(position=2, agents=2, aht_seconds=300, free_slots=2) == 0
    assert estimate_wait_seconds(position=1, agents=0, aht_seconds=300, free_slots=1) == 0


def test_it_counts_only_the_items_beyond_the_free_capacity() -> None:
    assert estimate_wait_seconds(position=5, agents=2, aht_seconds=100, free_slots=1) == 200


def test_it_has_no_estimate_when_nobody_can_serve() -> None:
    assert estimate_wait_seconds(position=1, agents=0, aht_seconds=300) is None


def test_it_grows_with_the_position_in_line() -> None:
    waits = [estimate_wait_seconds(position=p, agents=4, aht_seconds=240) or 0.0 for p in range(1, 6)]
    assert waits == sorted(waits) and len(set(waits)) == 5


def test_it_refuses_impossible_inputs() -> None:
    with pytest.raises(ValueError, match="position"):
        estimate_wait_seconds(position=0, agents=1, aht_seconds=60)
    with pytest.raises(ValueError, match="negative"):
        estimate_wait_seconds(position=1, agents=-1, aht_seconds=60)


def test_it_smooths_towards_the_new_value() -> None:
    assert smooth(None, 120.0) == 120.0
    assert smooth(100.0, 200.0) == pytest.approx(130.0)
    assert smooth(100.0, 200.0, alpha=1.0) == 200.0
    with pytest.raises(ValueError, match="alpha"):
        smooth(100.0, 200.0, alpha=0)
