"""Bounded-memory aggregates for streaming a batch of any size: quantiles and a time series.

:class:`QuantileSketch` is a DDSketch (Masson, Rim and Lee, VLDB 2019): each positive value
falls in the logarithmic bucket ``ceil(log(v) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``,
so a bucket's midpoint is within a relative error ``a`` of every value in it. The q-quantile is
the bucket holding the nearest-rank value (rank ``ceil(q * n)``), hence within ``a`` (1 %) of the
exact nearest-rank quantile, whatever the number of values. Timings from 1 µs to 11 days need at
most ~1,500 buckets; values at or below :data:`ZERO` are counted apart, exactly.

:class:`TimeSeries` counts events in buckets whose width climbs a ladder of round widths (1 s,
5 s, 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, 1 h, 3 h, …), each a multiple of the one before,
so that a series can be regrouped into any wider rung exactly. :class:`Lowest` keeps the k
entries with the smallest keys.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from typing import Generic, TypeVar

#: Relative error of every quantile a sketch returns (1 %).
RELATIVE_ERROR = 0.01
#: Values at or below this count as zero (a stage that took no measurable time), seconds.
ZERO = 1e-9
#: Most buckets a time series keeps; past it, buckets widen to the next round width.
MAX_BUCKETS = 240
#: Round bucket widths, seconds, each a multiple of the one before (past the last, doubled).
WIDTHS = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)

T = TypeVar("T")


class QuantileSketch:
    """Counts of values in logarithmic buckets: quantiles within a relative error, any n."""

    def __init__(self, relative_error: float = RELATIVE_ERROR) -> None:
        self.gamma = (1 + relative_error) / (1 - relative_error)
        self._log_gamma = math.log(self.gamma)
        self._buckets: Counter[int] = Counter()
        self.zeros = 0
        self.count = 0
        self.total = 0.0
        self.max = -math.inf

    def add(self, value: float) -> None:
        """Count one value (negative values count as zero)."""
        self.count += 1
        self.total += value
        self.max = max(self.max, value)
        if value <= ZERO:
            self.zeros += 1
        else:
            self._buckets[math.ceil(math.log(value) / self._log_gamma)] += 1

    def quantile(self, q: float) -> float | None:
        """The nearest-rank q-quantile (0 < q ≤ 1) within the relative error; None when empty."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return 0.0
        seen = self.zeros
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                return min(2 * self.gamma**index / (self.gamma + 1), self.max)
        return self.max  # unreachable: the buckets hold every non-zero value

    def summary(self) -> dict[str, float | int | None]:
        """count, mean, p50, p95 and max, rounded for people."""
        if self.count == 0:
            return {"count": 0, "mean": None, "p50": None, "p95": None, "max": None}
        return {
            "count": self.count,
            "mean": _round(self.total / self.count),
            "p50": _round(self.quantile(0.50)),
            "p95": _round(self.quantile(0.95)),
            "max": _round(self.max),
        }


def wider(width: int) -> int:
    """The round width after `width` (one of :data:`WIDTHS`, or a day doubled)."""
    return next((w for w in WIDTHS if w > width), width * 2)


class TimeSeries:
    """Events per time bucket; buckets widen (1 s, 5 s, 10 s, …) to stay under `max_buckets`."""

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        self.max_buckets = max_buckets
        self.width = 1
        self._counts: Counter[int] = Counter()
        self._first = self._last = 0

    def add(self, epoch_s: int) -> None:
        """Count one event at `epoch_s` (whole seconds)."""
        index = epoch_s // self.width
        if not self._counts:
            self._first = self._last = index
        self._counts[index] += 1
        self._first, self._last = min(self._first, index), max(self._last, index)
        while self._last - self._first >= self.max_buckets:
            self._widen()

    def buckets(self, max_bars: int | None = None) -> tuple[int, int, list[int]]:
        """The first bucket's start (epoch seconds), the bucket width and the count of every
        bucket from the first to the last; regrouped into the narrowest round width that
        needs at most `max_bars` buckets, when given."""
        if not self._counts:
            return 0, self.width, []
        width = self.width
        while max_bars is not None and self._span(width) > max_bars:
            width = wider(width)
        factor = width // self.width
        first, counts = self._first // factor, [0] * self._span(width)
        for index, count in self._counts.items():
            counts[index // factor - first] += count
        return first * width, width, counts

    def _span(self, width: int) -> int:
        """Buckets from the first to the last event, were they `width` seconds wide."""
        factor = width // self.width
        return self._last // factor - self._first // factor + 1

    def _widen(self) -> None:
        width = wider(self.width)
        factor = width // self.width
        widened: Counter[int] = Counter()
        for index, count in self._counts.items():
            widened[index // factor] += count
        self._counts, self.width = widened, width
        self._first, self._last = self._first // factor, self._last // factor


class Lowest(Generic[T]):
    """The `k` entries with the smallest keys of all added: bounded memory, any number."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.seen = 0
        # A max-heap by key (negated), so the worst kept entry is the first to go.
        self._heap: list[tuple[tuple[float, ...], int, T]] = []

    def add(self, key: tuple[float, ...], entry: T) -> None:
        """Offer one entry; it stays if its key is among the `k` smallest so far."""
        self.seen += 1
        item = (tuple(-part for part in key), -self.seen, entry)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, item)
        elif item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def entries(self) -> list[T]:
        """The kept entries, smallest key first (ties: the first added first)."""
        return [entry for *_, entry in sorted(self._heap, reverse=True)]


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")
