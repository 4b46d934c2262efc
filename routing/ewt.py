"""Estimated wait time (DESIGN.md "Estimated wait time"). Pure."""

from __future__ import annotations


def estimate_wait_seconds(*, position: int, agents: int, aht_seconds: float, free_slots: int = 0) -> float | None:
    """Seconds until the item at `position` (1 = next in line) is likely answered; None when nobody can serve it.

    EWT = (position − free_slots) × AHT ÷ agents, where `agents` is the number of agents able to serve this queue
    and channel kind now (available, with the skills), `free_slots` their free capacity right now and AHT the recent
    average handle time. Items within the free capacity (free_slots ≥ position) wait 0: they are assigned at once.
    """
    if position < 1:
        raise ValueError("position starts at 1 (next in line)")
    if aht_seconds < 0 or free_slots < 0 or agents < 0:
        raise ValueError("agents, free slots and handle time cannot be negative")
    if free_slots >= position:
        return 0.0
    if agents == 0:
        return None
    return (position - free_slots) * aht_seconds / agents


def smooth(previous: float | None, value: float, *, alpha: float = 0.3) -> float:
    """Exponential smoothing: alpha × value + (1 − alpha) × previous; the first value passes unchanged.

    Keeps a displayed EWT from jumping with every single assignment; a higher alpha follows changes faster.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError("alpha must be in (0, 1]")
    if previous is None:
        return value
    return alpha * value + (1.0 - alpha) * previous
