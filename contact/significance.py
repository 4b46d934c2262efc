"""Test-and-learn significance: is one variant's rate really different from the other's? Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Below this many visits per variant the z-test's normal approximation is not trusted (n·p and n·(1−p) ≥ 5 would
# need at least this many for a conversion around 10 %); the report then says "not enough data".
MIN_SAMPLE_PER_VARIANT = 50


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float
    significant: bool  # at 5 %, two-sided, with enough data


def two_proportion_z_test(*, successes_a: int, total_a: int, successes_b: int, total_b: int) -> ZTest:
    """Pooled two-proportion z-test, two-sided: z = (p̂a − p̂b) / √(p̂(1−p̂)(1/na + 1/nb))."""
    if min(total_a, total_b) <= 0:
        return ZTest(0.0, 1.0, False)
    pa, pb = successes_a / total_a, successes_b / total_b
    pooled = (successes_a + successes_b) / (total_a + total_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    if spread == 0:
        return ZTest(0.0, 1.0, False)
    z = (pa - pb) / spread
    p_value = math.erfc(abs(z) / math.sqrt(2))
    enough = min(total_a, total_b) >= MIN_SAMPLE_PER_VARIANT
    return ZTest(round(z, 4), round(p_value, 6), enough and p_value < 0.05)
