"""Erlang C staffing: how many agents a queue needs for its service level, and what they would achieve.

Standard M/M/N model (Poisson arrivals, exponential handle times, infinite patience). Definitions, per interval:
- traffic intensity A = λ · AHT (erlangs), with λ in contacts per second and AHT in seconds;
- P(wait) = Erlang C(N, A), computed from the Erlang B recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)),
  then C = N·B / (N − A·(1 − B)); the recursion never forms A^N or N!, so it stays exact for hundreds of agents;
- service level SL(t) = 1 − P(wait) · e^(−(N − A) · t / AHT);
- ASA = P(wait) · AHT / (N − A);
- occupancy = A / N.
With N ≤ A the queue grows without bound: P(wait) = 1, SL = 0, ASA = ∞, occupancy = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Staffing:
    agents: int
    traffic: float
    probability_of_waiting: float
    service_level: float
    average_speed_of_answer: float
    occupancy: float


def traffic_intensity(*, contacts: float, interval_seconds: float, average_handle_time: float) -> float:
    """A = λ · AHT, with λ = contacts ÷ interval length."""
    return contacts / interval_seconds * average_handle_time


def probability_of_waiting(*, agents: int, traffic: float) -> float:
    if agents <= traffic:
        return 1.0
    erlang_b = 1.0
    for k in range(1, agents + 1):
        erlang_b = traffic * erlang_b / (k + traffic * erlang_b)
    return agents * erlang_b / (agents - traffic * (1 - erlang_b))


def staffing_for(*, agents: int, traffic: float, average_handle_time: float, target_seconds: float) -> Staffing:
    wait = probability_of_waiting(agents=agents, traffic=traffic)
    if agents <= traffic:
        return Staffing(agents, traffic, 1.0, 0.0, math.inf, 1.0)
    service_level = 1 - wait * math.exp(-(agents - traffic) * target_seconds / average_handle_time)
    asa = wait * average_handle_time / (agents - traffic)
    return Staffing(agents, traffic, wait, service_level, asa, traffic / agents)


def agents_needed(
    *, traffic: float, average_handle_time: float, target_seconds: float, service_level_goal: float
) -> Staffing:
    """The smallest N > A whose predicted service level reaches the goal (0 < goal < 1)."""
    if not 0 < service_level_goal < 1:
        raise ValueError("the service level goal is a fraction strictly between 0 and 1")
    if traffic <= 0:
        return Staffing(0, 0.0, 0.0, 1.0, 0.0, 0.0)
    agents = math.floor(traffic) + 1
    while True:
        staffing = staffing_for(
            agents=agents, traffic=traffic, average_handle_time=average_handle_time, target_seconds=target_seconds
        )
        if staffing.service_level >= service_level_goal:
            return staffing
        agents += 1
