"""Pure arithmetic of the benchmark: percentiles, summaries, pacing and sampling.

>>> percentile([1.0, 2.0, 3.0, 4.0], 50)
2.5
>>> latency_summary([0.010, 0.020, 0.030])
{'p50': 20.0, 'p95': 29.0, 'p99': 29.8}
>>> [due(elapsed, rate=100.0, total=5) for elapsed in (0.0, 0.015, 1.0)]
[1, 2, 5]
>>> rates_by_tenth([(1.0, 50), (2.0, 100)], parts=2)
[50.0, 50.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linearly interpolated between closest ranks."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within [0, 100]")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds (rounded to 0.1 ms) of latencies in seconds."""
    return {f"p{q}": round(percentile(seconds, q) * 1000, 1) for q in (50, 95, 99)}


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0


def due(elapsed_s: float, *, rate: float, total: int) -> int:
    """How many messages a sender paced at ``rate`` per second should have sent by
    ``elapsed_s`` (message ``i`` is due at ``i / rate``), at most ``total``."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    return min(total, math.floor(max(elapsed_s, 0.0) * rate) + 1)


def paced_count(rate: float, seconds: float) -> int:
    """Messages in a paced run of ``seconds`` at ``rate`` per second (at least one)."""
    return max(1, round(rate * seconds))


def sampled(index: int, every: int = 20) -> bool:
    """Whether the ``index``-th communication of a run is one whose latency is measured."""
    return index % every == 0


def series_summary(values: Sequence[float]) -> dict[str, Any]:
    """First, last, max and mean of a series sampled over time (e.g. RSS in MB)."""
    if not values:
        return {
            "start": None,
            "end": None,
            "max": None,
            "mean": None,
            "samples": 0,
            "mean_by_tenth": [],
        }
    return {
        "start": round(values[0], 1),
        "end": round(values[-1], 1),
        "max": round(max(values), 1),
        "mean": round(sum(values) / len(values), 1),
        "samples": len(values),
        "mean_by_tenth": means_by_tenth(values),
    }


def means_by_tenth(values: Sequence[float], parts: int = 10) -> list[float]:
    """The mean of each tenth (or ``parts``) of a series in time order: shows whether
    it still grows at the end of a run (memory) or levelled off.

    >>> means_by_tenth([1.0, 3.0, 5.0, 7.0], parts=2)
    [2.0, 6.0]
    >>> means_by_tenth([4.0], parts=3), means_by_tenth([])
    ([4.0], [])
    """
    if not values:
        return []
    parts = min(parts, len(values))
    bounds = [round(i * len(values) / parts) for i in range(parts + 1)]
    return [round(sum(values[a:b]) / (b - a), 1) for a, b in pairwise(bounds)]


def rates_by_tenth(points: Sequence[tuple[float, int]], parts: int = 10) -> list[float]:
    """Events/s over each tenth (or ``parts``) of the events, from cumulative
    ``(seconds, count)`` points in time order: shows whether a run slows down."""
    if not points or points[-1][1] <= 0:
        return []
    total = points[-1][1]
    rates: list[float] = []
    previous_s, previous_count, i = 0.0, 0, 0
    for part in range(1, parts + 1):
        while points[i][1] < total * part / parts:
            i += 1
        seconds, count = points[i]
        if count > previous_count and seconds > previous_s:
            rates.append(round((count - previous_count) / (seconds - previous_s), 1))
            previous_s, previous_count = seconds, count
    return rates
