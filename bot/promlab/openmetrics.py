"""OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`, with Milvus-style series.

Series are described as functions of time (unix seconds) and sampled every `step_s` over a few
time ranges only (typically the queried window and the same window one day earlier), so the
generated file and the TSDB stay small.

    w = OpenMetricsWriter(window_ranges(end, minutes=30), step_s=15)
    w.histogram("milvus_querynode_sq_queue_latency", {"node_id": "1", "query_type": "search"},
                lambda t: [(450.0, 40), (20.0, 960)])   # per step: 40 obs of 450 ms, 960 of 20 ms
    w.counter("milvus_proxy_req_count", {"function_name": "Search", "status": "success"}, rate=10.0)
    w.gauge("milvus_querynode_read_task_ready_len", {"node_id": "1"}, lambda t: 2.0)
    w.write("data.om")

A value function may return None: no sample at that step (a gap, as when a target is down).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# Milvus Go histograms: prometheus.ExponentialBuckets(1, 2, 18) in ms, i.e. 1, 2, 4, ..., 131072 (+Inf).
MILVUS_BUCKETS: tuple[float, ...] = tuple(float(2**i) for i in range(18))

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Number = float | int
Observations = Iterable[tuple[float, Number]]  # (observed value, how many times) in one step
ValueFn = Callable[[float], Number | None] | Number
ObsFn = Callable[[float], Observations | None]


@dataclass(frozen=True)
class TimeRange:
    """A closed range of unix seconds to sample: [start, end]."""

    start: float
    end: float

    def times(self, step_s: float) -> list[float]:
        n = math.floor((self.end - self.start) / step_s + 1e-9)
        return [self.start + i * step_s for i in range(n + 1)]


def _ts(t: float | datetime) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


def window_ranges(end: float | datetime, seconds: float, *, baseline: bool = True,
                  pad_s: float = 600.0, days_back: int = 1) -> list[TimeRange]:
    """The ranges a diagnosis of the window ending at `end` reads: the window itself and the same
    window `days_back` days earlier. Each is padded by `pad_s` before its start (rate() and
    the 5 m lookback need samples before the window) and 60 s after its end."""
    e = _ts(end)
    out = [TimeRange(e - seconds - pad_s, e + 60.0)]
    if baseline:
        d = 86400.0 * days_back
        out.append(TimeRange(e - d - seconds - pad_s, e - d + 60.0))
    return out


def format_value(v: float) -> str:
    """A float the way OpenMetrics and the Go client write it (NaN, +Inf, integers without '.0')."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def escape_label_value(v: str) -> str:
    """OpenMetrics label value escaping: backslash, double quote and newline."""
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels_text(labels: Sequence[tuple[str, str]]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels) + "}"


@dataclass
class _Series:
    labels: tuple[tuple[str, str], ...]
    lines: list[tuple[float, str]] = field(default_factory=list)  # (time, line) in time order


@dataclass
class _Family:
    name: str
    type: str
    help: str | None
    series: dict[tuple[tuple[str, str], ...], _Series] = field(default_factory=dict)


class OpenMetricsWriter:
    """Collects metric families sampled over `ranges` every `step_s` seconds; `write()` emits them.

    Families are written sorted by name, series by labels, samples by time, each family once with
    its `# TYPE`, and the file ends with `# EOF` as promtool requires.
    """

    def __init__(self, ranges: Sequence[TimeRange] | TimeRange, step_s: float = 15.0) -> None:
        if isinstance(ranges, TimeRange):
            ranges = [ranges]
        if not ranges:
            raise ValueError("give at least one TimeRange to sample")
        if step_s <= 0:
            raise ValueError("step_s must be positive")
        self.step_s = float(step_s)
        self.ranges = sorted(ranges, key=lambda r: r.start)
        times: set[float] = set()
        for r in self.ranges:
            times.update(r.times(self.step_s))
        self.times: list[float] = sorted(times)
        self._families: dict[str, _Family] = {}

    # ------------------------------------------------------------------ public helpers

    def gauge(self, name: str, labels: dict[str, str] | None, value: ValueFn, help: str | None = None) -> None:
        """A gauge: `value(t)` (or a constant) at each step; None leaves a gap."""
        fam = self._family(name, "gauge", help)
        s = self._series(fam, labels)
        for t in self.times:
            v = value(t) if callable(value) else value
            if v is not None:
                s.lines.append((t, f"{name}{_labels_text(s.labels)} {format_value(float(v))} {format_value(t)}"))

    def counter(self, name: str, labels: dict[str, str] | None, rate: ValueFn | None = None, *,
                total: Callable[[float], Number | None] | None = None, start: float = 0.0,
                help: str | None = None) -> None:
        """A counter given either by `rate` (per second, constant or a function of t; the counter
        grows by rate*step each step, across the gaps between ranges) or by `total(t)`, its
        cumulative value (use it for resets). The sample name is `name` as given: Milvus counters
        such as milvus_proxy_req_count have no `_total` suffix."""
        if (rate is None) == (total is None):
            raise ValueError(f"{name}: give exactly one of rate= or total=")
        fam = self._family(name, "counter", help)
        s = self._series(fam, labels)
        acc = float(start)
        prev: float | None = None
        for t in self.times:
            if total is not None:
                v = total(t)
            else:
                r = rate(t) if callable(rate) else rate
                if prev is not None and r is not None:
                    acc += float(r) * (t - prev)
                v = acc if r is not None else None
            prev = t
            if v is not None:
                s.lines.append((t, f"{name}{_labels_text(s.labels)} {format_value(float(v))} {format_value(t)}"))

    def histogram(self, name: str, labels: dict[str, str] | None, observations: ObsFn,
                  buckets: Sequence[float] = MILVUS_BUCKETS, help: str | None = None) -> None:
        """A cumulative histogram (`_bucket` with `le`, `_count`, `_sum`). `observations(t)` returns
        the (value, count) pairs observed during the step ending at t, e.g. [(450.0, 10), (20.0, 990)];
        None leaves a gap (no sample) at that step. Default buckets are Milvus's ms buckets."""
        bounds = sorted(float(b) for b in buckets)
        if not bounds or any(math.isinf(b) for b in bounds):
            raise ValueError(f"{name}: buckets must be finite upper bounds (+Inf is added)")
        if "le" in (labels or {}):
            raise ValueError(f"{name}: 'le' is reserved for histogram buckets")
        fam = self._family(name, "histogram", help)
        s = self._series(fam, labels)
        counts = [0.0] * (len(bounds) + 1)  # per bucket (not cumulative); the last is +Inf
        total_sum = 0.0
        base = s.labels
        for t in self.times:
            obs = observations(t)
            if obs is None:
                continue
            for value, n in obs:
                if n < 0:
                    raise ValueError(f"{name}: negative observation count {n} at t={t}")
                counts[bisect.bisect_left(bounds, float(value))] += n
                total_sum += float(value) * n
            ts = format_value(t)
            cum = 0.0
            for i, le in enumerate([*bounds, math.inf]):
                cum += counts[i]
                lab = _labels_text((*base, ("le", format_value(le))))
                s.lines.append((t, f"{name}_bucket{lab} {format_value(cum)} {ts}"))
            s.lines.append((t, f"{name}_count{_labels_text(base)} {format_value(cum)} {ts}"))
            s.lines.append((t, f"{name}_sum{_labels_text(base)} {format_value(total_sum)} {ts}"))

    def text(self) -> str:
        out: list[str] = []
        for name in sorted(self._families):
            fam = self._families[name]
            if fam.help:
                out.append(f"# HELP {name} {fam.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
            out.append(f"# TYPE {name} {fam.type}")
            for key in sorted(fam.series):
                # Lines were appended in time order; a stable sort keeps bucket order within a step.
                out.extend(line for _, line in sorted(fam.series[key].lines, key=lambda x: x[0]))
        out.append("# EOF")
        return "\n".join(out) + "\n"

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.text(), encoding="utf-8")
        return p

    @property
    def sample_count(self) -> int:
        return sum(len(s.lines) for f in self._families.values() for s in f.series.values())

    # ------------------------------------------------------------------ internals

    def _family(self, name: str, type_: str, help: str | None) -> _Family:
        if not _METRIC_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid metric name")
        fam = self._families.get(name)
        if fam is None:
            fam = self._families[name] = _Family(name, type_, help)
        elif fam.type != type_:
            raise ValueError(f"{name}: already declared as a {fam.type}, not a {type_}")
        return fam

    def _series(self, fam: _Family, labels: dict[str, str] | None) -> _Series:
        for k in labels or {}:
            if not _LABEL_NAME.match(k):
                raise ValueError(f"{fam.name}: {k!r} is not a valid label name")
        key = tuple(sorted((k, str(v)) for k, v in (labels or {}).items()))
        if key in fam.series:
            raise ValueError(f"{fam.name}{_labels_text(key)}: series defined twice")
        s = fam.series[key] = _Series(key)
        return s


def expected_quantile(q: float, observations: Iterable[tuple[float, Number]],
                      buckets: Sequence[float] = MILVUS_BUCKETS) -> float:
    """What Prometheus's histogram_quantile returns for these observations (linear interpolation
    inside the bucket holding the rank; the lowest bucket starts at 0). For test expectations."""
    bounds = sorted(float(b) for b in buckets)
    counts = [0.0] * (len(bounds) + 1)
    for value, n in observations:
        counts[bisect.bisect_left(bounds, float(value))] += n
    total = sum(counts)
    if total == 0:
        return math.nan
    rank = q * total
    cum = 0.0
    for i, c in enumerate(counts):
        if cum + c >= rank and c > 0:
            if i == len(bounds):  # the +Inf bucket: Prometheus returns the highest finite bound
                return bounds[-1]
            lower = 0.0 if i == 0 else bounds[i - 1]
            return lower + (bounds[i] - lower) * (rank - cum) / c
        cum += c
    return bounds[-1]
