"""Erlang C against the published vectors (DESIGN.md, issue 12), to three decimals."""

from __future__ import annotations

import math

import pytest

from reporting.erlang import agents_needed, probability_of_waiting, staffing_for, traffic_intensity


def test_it_computes_traffic_from_volume_and_handle_time() -> None:
    assert traffic_intensity(contacts=100, interval_seconds=1800, average_handle_time=180) == pytest.approx(10.0)
    assert traffic_intensity(contacts=360, interval_seconds=1800, average_handle_time=240) == pytest.approx(48.0)


def test_it_misses_the_goal_with_13_agents_for_10_erlangs() -> None:
    staffing = staffing_for(agents=13, traffic=10.0, average_handle_time=180, target_seconds=20)
    assert round(staffing.service_level, 3) == 0.796


def test_it_reproduces_the_14_agent_vector() -> None:
    staffing = staffing_for(agents=14, traffic=10.0, average_handle_time=180, target_seconds=20)
    assert round(staffing.probability_of_waiting, 3) == 0.174
    assert round(staffing.service_level, 3) == 0.888
    assert round(staffing.average_speed_of_answer, 3) == 7.836
    assert round(staffing.occupancy, 3) == 0.714


def test_it_recommends_14_agents_for_80_percent_in_20_seconds() -> None:
    staffing = agents_needed(traffic=10.0, average_handle_time=180, target_seconds=20, service_level_goal=0.8)
    assert staffing.agents == 14


def test_it_reproduces_the_48_erlang_vector() -> None:
    staffing = staffing_for(agents=55, traffic=48.0, average_handle_time=240, target_seconds=15)
    assert round(staffing.probability_of_waiting, 3) == 0.239
    assert round(staffing.service_level, 3) == 0.846
    assert round(staffing.average_speed_of_answer, 2) == 8.18


def test_it_treats_an_understaffed_queue_as_unbounded() -> None:
    staffing = staffing_for(agents=10, traffic=10.0, average_handle_time=180, target_seconds=20)
    assert staffing.probability_of_waiting == 1.0
    assert staffing.service_level == 0.0
    assert math.isinf(staffing.average_speed_of_answer)


def test_it_stays_finite_for_hundreds_of_agents() -> None:
    wait = probability_of_waiting(agents=700, traffic=650.0)
    assert 0.0 < wait < 1.0


def test_it_refuses_a_goal_outside_zero_and_one() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        agents_needed(traffic=10.0, average_handle_time=180, target_seconds=20, service_level_goal=1.0)
