"""Latency histograms: fixed buckets, so that a day's latencies are a handful of counters
in the day aggregates and percentiles over any window are a sum and a walk.

Bucket `i` counts latencies up to `BOUNDS_MS[i]` (above the previous bound); the last
bucket is open-ended. A percentile is interpolated linearly inside its bucket, so it is
exact to within a bucket's width: enough to compare models (p50/p95), not to bill.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

BOUNDS_MS: tuple[int, ...] = (
    50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500,
    10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000,
)
BUCKETS = len(BOUNDS_MS) + 1


def bucket(ms: float) -> int:
    """The bucket index of a latency in milliseconds."""
    return bisect_left(BOUNDS_MS, max(0.0, ms))


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The `q` quantile (0 < q <= 1) in milliseconds of a histogram, or None if empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            low = BOUNDS_MS[i - 1] if i > 0 else 0
            high = BOUNDS_MS[i] if i < len(BOUNDS_MS) else BOUNDS_MS[-1] * 2
            return low + (high - low) * (rank - seen) / n
        seen += n
    return float(BOUNDS_MS[-1] * 2)


def add(into: list[int], counts: Sequence[int]) -> None:
    for i, n in enumerate(counts):
        into[i] += n
