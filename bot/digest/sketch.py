"""A fixed-accuracy quantile sketch (log-spaced bins, after DDSketch) and the digest's log10 histogram.

A value v > 0 lands in bin i with gamma^(i-1) < v <= gamma^i, gamma = (1 + a) / (1 - a). Reporting
the bin as 2 gamma^i / (gamma + 1) is then within a relative error `a` of every value in it, so a
quantile read from the sketch is within `a` of the exact nearest-rank quantile, whatever the data.
Memory is the number of non-empty bins, capped: past the cap the lowest bins are merged (the upper
quantiles the digest reports stay exact to `a`). Bins are a plain dict: shapes are few, values many.
"""

from __future__ import annotations

import math

# Duration buckets of the digest histogram (ShapeStats.histogram): upper bounds, exclusive.
HISTOGRAM_BOUNDS_S = (0.01, 0.1, 1.0, 10.0, 100.0)
HISTOGRAM_LABELS = ("<10ms", "10-100ms", "100ms-1s", "1-10s", "10-100s", "100s+")


def histogram_bucket(seconds: float) -> int:
    for i, bound in enumerate(HISTOGRAM_BOUNDS_S):
        if seconds < bound:
            return i
    return len(HISTOGRAM_BOUNDS_S)


class LogSketch:
    __slots__ = ("bins", "count", "gamma", "log_gamma", "max_bins", "zeros")

    MIN_VALUE = 1e-9  # values at or below this (zero durations) are counted apart

    def __init__(self, relative_accuracy: float = 0.01, max_bins: int = 1024) -> None:
        self.gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self.log_gamma = math.log(self.gamma)
        self.max_bins = max_bins
        self.bins: dict[int, int] = {}
        self.zeros = 0
        self.count = 0

    def add(self, value: float) -> None:
        self.count += 1
        if value <= self.MIN_VALUE:
            self.zeros += 1
            return
        i = math.ceil(math.log(value) / self.log_gamma)
        bins = self.bins
        bins[i] = bins.get(i, 0) + 1
        if len(bins) > self.max_bins:
            self._collapse()

    def _collapse(self) -> None:
        keys = sorted(self.bins)
        extra = len(keys) - self.max_bins
        low = keys[: extra + 1]
        merged = sum(self.bins.pop(k) for k in low)
        self.bins[low[-1]] = merged

    def merge(self, other: LogSketch) -> None:
        for i, c in other.bins.items():
            self.bins[i] = self.bins.get(i, 0) + c
        self.zeros += other.zeros
        self.count += other.count
        if len(self.bins) > self.max_bins:
            self._collapse()

    def quantile(self, q: float) -> float:
        """The nearest-rank q-quantile (the value at rank ceil(q*n)), within the relative accuracy."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.count - 1e-9))
        if rank <= self.zeros:
            return 0.0
        seen = self.zeros
        for i in sorted(self.bins):
            seen += self.bins[i]
            if seen >= rank:
                return 2.0 * self.gamma ** i / (self.gamma + 1.0)
        return 2.0 * self.gamma ** max(self.bins) / (self.gamma + 1.0)  # pragma: no cover - counts add up
