"""Streaming digest: slow requests in (one at a time), ranked shapes out.

Memory is bounded by the number of distinct shapes, never by the number of lines: per shape the
builder keeps counts, sums (Welford mean/variance), min/max, first/last seen, the slowest request,
a six-bucket log10 histogram and two quantile sketches (duration and duration per NQ). Past
`max_shapes` distinct shapes, further shapes are folded into one overflow bucket reported in MISC.
Not thread-safe: feed it from one thread (the log sources call their sinks sequentially).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from bisect import bisect_right as _bisect_right
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.digest.analysis import analyze_request
from bot.digest.fingerprint import fingerprint
from bot.digest.model import Digest, ShapeStats
from bot.digest.settings import DigestSettings, load_settings
from bot.digest.sketch import HISTOGRAM_BOUNDS_S, HISTOGRAM_LABELS, LogSketch
from bot.slowlog.parser import HYBRID_JOIN
from bot.slowlog.request import SlowRequest

if TYPE_CHECKING:  # only for annotations: bot.models would import pydantic
    from bot.models import MilvusEvidence

ShapeKey = tuple[Any, ...]
_INF = float("inf")
_MIN_VALUE = LogSketch.MIN_VALUE
_log, _ceil = math.log, math.ceil
_SCALARS = frozenset((str, int, float, bool, type(None)))


class _Acc:
    """Running figures of one shape."""

    __slots__ = ("count", "first", "hist", "key", "last", "m2", "max", "max_nq", "mean", "min", "nq_max",
                 "nq_min", "nq_sketch", "shape_count", "sketch", "total", "worst")

    def __init__(self, key: ShapeKey | None, settings: DigestSettings) -> None:
        self.key = key
        self.count = 0
        self.total = 0.0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = float("inf")
        self.max = -1.0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.worst: SlowRequest | None = None
        self.hist = [0] * len(HISTOGRAM_LABELS)
        self.sketch = LogSketch(settings.sketch_relative_accuracy, settings.sketch_max_bins)
        self.nq_sketch = LogSketch(settings.sketch_relative_accuracy, settings.sketch_max_bins)
        self.max_nq: int | None = None
        self.nq_min = float("inf")
        self.nq_max = -1.0
        self.shape_count = 1

    def add(self, req: SlowRequest) -> None:
        # Runs once per slow request: the histogram bucket and both sketch updates are inlined
        # (LogSketch.add's exact steps), which halves its cost.
        d = req.duration_s
        n = self.count = self.count + 1
        self.total += d
        delta = d - self.mean
        self.mean += delta / n
        self.m2 += delta * (d - self.mean)
        if d < self.min:
            self.min = d
        if d > self.max:
            self.max = d
            self.worst = req
        t = req.time
        if t is not None:
            if self.first is None or t < self.first:
                self.first = t
            if self.last is None or t > self.last:
                self.last = t
        self.hist[_bisect_right(HISTOGRAM_BOUNDS_S, d)] += 1
        sk = self.sketch
        sk.count += 1
        if d <= _MIN_VALUE:
            sk.zeros += 1
        else:
            bins = sk.bins
            i = _ceil(_log(d) / sk.log_gamma)
            bins[i] = bins.get(i, 0) + 1
            if len(bins) > sk.max_bins:
                sk._collapse()
        nq = req.nq
        per_nq = req.duration_per_nq_s
        if per_nq is None and nq:
            per_nq = d / nq
        if per_nq is not None:
            sk = self.nq_sketch
            sk.count += 1
            if per_nq <= _MIN_VALUE:
                sk.zeros += 1
            else:
                bins = sk.bins
                i = _ceil(_log(per_nq) / sk.log_gamma)
                bins[i] = bins.get(i, 0) + 1
                if len(bins) > sk.max_bins:
                    sk._collapse()
            if per_nq < self.nq_min:
                self.nq_min = per_nq
            if per_nq > self.nq_max:
                self.nq_max = per_nq
        if nq is not None and (self.max_nq is None or nq > self.max_nq):
            self.max_nq = nq

    def merge(self, other: _Acc) -> None:
        """Fold another shape in (Chan et al.'s parallel variance formula)."""
        if other.count == 0:
            return
        n = self.count + other.count
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * self.count * other.count / n
        self.mean += delta * other.count / n
        self.count = n
        self.total += other.total
        self.min = min(self.min, other.min)
        if other.max > self.max:
            self.max, self.worst = other.max, other.worst
        for t in (other.first, other.last):
            if t is not None:
                self.first = t if self.first is None or t < self.first else self.first
                self.last = t if self.last is None or t > self.last else self.last
        self.hist = [a + b for a, b in zip(self.hist, other.hist, strict=True)]
        self.sketch.merge(other.sketch)
        self.nq_sketch.merge(other.nq_sketch)
        self.nq_min = min(self.nq_min, other.nq_min)
        self.nq_max = max(self.nq_max, other.nq_max)
        if other.max_nq is not None and (self.max_nq is None or other.max_nq > self.max_nq):
            self.max_nq = other.max_nq
        self.shape_count += other.shape_count


def shape_id(key: ShapeKey) -> str:
    """A short stable id for a shape key, like pt-query-digest's query ids."""
    return "0x" + hashlib.blake2b(repr(key).encode("utf-8", "surrogatepass"), digest_size=6).hexdigest().upper()


def filter_shape(req: SlowRequest) -> str:
    if req.dsls:
        return HYBRID_JOIN.join(fingerprint(d) for d in req.dsls)
    return fingerprint(req.dsl)


class DigestBuilder:
    """`add(req)` for every slow request, then `finish(milvus)` -> Digest."""

    def __init__(self, top: int | None = None, max_shapes: int | None = None,
                 settings: DigestSettings | None = None) -> None:
        self.settings = settings or load_settings()
        self.top = top if top is not None else self.settings.top
        self.max_shapes = max_shapes if max_shapes is not None else self.settings.max_shapes
        self._shapes: dict[ShapeKey, _Acc] = {}
        self._overflow: _Acc | None = None
        self.count = 0
        self.total_s = 0.0
        self._nq_buckets: dict[int | None, str] = {}  # NQ -> bucket label, computed once per value
        self._params_cache: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}
        self.invalid = 0  # requests dropped for a duration that is not a finite, non-negative number

    # ------------------------------------------------------------------ streaming

    def shape_key(self, req: SlowRequest) -> ShapeKey:
        nq = req.nq
        nq_bucket = self._nq_buckets.get(nq)
        if nq_bucket is None:
            nq_bucket = self._nq_buckets[nq] = self.settings.nq_bucket(nq)
        parts = req.partitions
        params = req.search_params
        return (
            req.kind, req.db, req.collection, tuple(sorted(parts)) if parts else (),
            HYBRID_JOIN.join(map(fingerprint, req.dsls)) if req.dsls else fingerprint(req.dsl),
            nq_bucket, req.topk, req.metric_type,
            self._cached_params(params) if params else (),
            req.consistency_level or self._consistency(req), len(req.output_fields), req.anns_field,
        )

    def add(self, req: SlowRequest) -> None:
        d = req.duration_s
        if not 0.0 <= d < _INF:  # NaN, infinite or negative: a damaged line, not a figure to average
            self.invalid += 1
            return
        self.count += 1
        self.total_s += d
        key = self.shape_key(req)
        acc = self._shapes.get(key)
        if acc is None:
            if len(self._shapes) >= self.max_shapes:
                acc = self._overflow_acc()
            else:
                acc = self._shapes[key] = _Acc(key, self.settings)
        acc.add(req)

    def merge(self, other: DigestBuilder) -> None:
        """Fold another builder in (a worker's, over a later part of the input). The shape cap holds:
        shapes beyond it join the overflow bucket."""
        self.count += other.count
        self.total_s += other.total_s
        self.invalid += other.invalid
        for key, acc in other._shapes.items():
            mine = self._shapes.get(key)
            if mine is not None:
                shapes = mine.shape_count
                mine.merge(acc)
                mine.shape_count = shapes  # the same shape seen by two workers is still one shape
            elif len(self._shapes) < self.max_shapes:
                self._shapes[key] = acc
            else:
                self._overflow_acc().merge(acc)
        if other._overflow is not None:
            self._overflow_acc().merge(other._overflow)

    def _overflow_acc(self) -> _Acc:
        if self._overflow is None:
            self._overflow = _Acc(None, self.settings)
            self._overflow.shape_count = 0
        return self._overflow

    def _cached_params(self, params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """_params, cached by the params' items and their types (1, 1.0 and True bucket differently)."""
        values = tuple(params.values())
        types = tuple(map(type, values))
        if not _SCALARS.issuperset(types):  # lists, dicts, tuples: not worth keying
            return self._params(params)
        key = (tuple(params), values, types)
        hit = self._params_cache.get(key)
        if hit is None:
            hit = self._params(params)
            if len(self._params_cache) >= 1024:
                self._params_cache.clear()
            self._params_cache[key] = hit
        return hit

    def _params(self, params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        if not params:
            return ()
        st = self.settings
        out = []
        for k, v in params.items():
            if k in st.param_ignore:
                continue
            out.append((k, "set" if k in st.param_presence_only else self._param_value(v)))
        out.sort()
        return tuple(out)

    def _param_value(self, v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, int):
            return self.settings.param_bucket(v)
        if isinstance(v, float):
            return self.settings.param_bucket(int(v)) if v.is_integer() else f"{v:g}"
        if isinstance(v, str):
            t = v.strip()
            if t.isdigit():
                return self.settings.param_bucket(int(t))
            return t[:32]
        return json.dumps(v, sort_keys=True, default=str)[:32]

    def _consistency(self, req: SlowRequest) -> str | None:
        if req.consistency_level:
            return req.consistency_level
        ts = req.guarantee_timestamp
        if ts is None:
            return None
        labels = self.settings.guarantee_ts_labels
        if ts > 2:  # a real TSO timestamp: its value is a time, not a level
            return labels.get("tso", "gts=tso")
        return labels.get(str(ts), f"gts={ts}")

    # ------------------------------------------------------------------ result

    def finish(self, milvus: MilvusEvidence | None = None) -> Digest:
        """Rank the shapes and build the Digest. Does not consume the builder (may be called again)."""
        accs = list(self._shapes.values())
        stats = [(self._stats(a), a) for a in accs]
        stats.sort(key=lambda sa: (-sa[0].total_s, -sa[0].count, sa[0].fingerprint))
        top, rest = stats[: self.top], stats[self.top:]
        outliers = self._outliers(stats, rest)
        outlier_ids = {s.fingerprint for s, _ in outliers}
        misc = [a for s, a in rest if s.fingerprint not in outlier_ids]
        if self._overflow is not None:
            misc.append(self._overflow)
        digest = Digest(total_count=self.count, total_s=self.total_s, shape_count=len(accs),
                        overflow_count=self._overflow.count if self._overflow else 0,
                        max_shapes=self.max_shapes)
        digest.shapes = [s for s, _ in top]
        digest.outliers = [s for s, _ in outliers]
        for s in digest.outliers:
            s.outlier = True
        if misc:
            folded = _Acc(None, self.settings)
            folded.shape_count = 0
            for a in misc:
                folded.merge(a)
            digest.other = self._stats(folded)
        everything = _Acc(None, self.settings)
        for a in accs + ([self._overflow] if self._overflow else []):
            everything.merge(a)
        digest.first_seen, digest.last_seen = everything.first, everything.last
        digest.histogram = list(everything.hist)
        for s in [*digest.shapes, *digest.outliers]:
            s.share = s.total_s / self.total_s if self.total_s else 0.0
            if s.worst is not None:
                facts = milvus.collection(s.collection) if milvus is not None and s.collection else None
                s.analysis = analyze_request(s.worst, facts)
        if digest.other is not None:
            digest.other.share = digest.other.total_s / self.total_s if self.total_s else 0.0
        return digest

    def _outliers(self, ranked: list[tuple[ShapeStats, _Acc]],
                  rest: list[tuple[ShapeStats, _Acc]]) -> list[tuple[ShapeStats, _Acc]]:
        rule = self.settings.outliers
        if not rest:
            return []
        median_p95 = statistics.median(s.p95_s for s, _ in ranked)
        found = [(s, a) for s, a in rest
                 if s.count <= rule.max_count
                 and ((median_p95 > 0 and s.p95_s >= rule.p95_factor * median_p95) or s.max_s >= rule.max_s)]
        found.sort(key=lambda sa: (-sa[0].max_s, sa[0].fingerprint))
        return found[: rule.limit]

    def _stats(self, a: _Acc) -> ShapeStats:
        key = a.key
        if key is None:  # MISC / overflow: many shapes folded together
            kind, db, coll, parts, filt, nqb, topk, metric, params, cons, nout, anns = (
                "", None, None, (), "", "", None, None, (), None, 0, None)
            fid = "MISC"
        else:
            kind, db, coll, parts, filt, nqb, topk, metric, params, cons, nout, anns = key
            fid = shape_id(key)
        n = a.count
        p50 = _clamp(a.sketch.quantile(0.5), a)
        p95 = _clamp(a.sketch.quantile(0.95), a)
        has_nq = a.nq_sketch.count > 0
        return ShapeStats(
            fingerprint=fid, kind=kind, db=db, collection=coll, partitions=list(parts), filter_shape=filt,
            nq_bucket=nqb, topk=topk, metric_type=metric, params_bucket=dict(params), consistency_level=cons,
            output_field_count=nout, count=n, total_s=a.total, p50_s=p50, p95_s=p95,
            max_s=a.max if n else 0.0, min_s=a.min if n else 0.0,
            per_nq_p50_s=_clamp_nq(a.nq_sketch.quantile(0.5), a) if has_nq else None,
            per_nq_p95_s=_clamp_nq(a.nq_sketch.quantile(0.95), a) if has_nq else None,
            max_nq=a.max_nq, vm_ratio=(a.m2 / n) / a.mean if n and a.mean > 0 else 0.0,
            first_seen=a.first, last_seen=a.last, worst=a.worst, histogram=list(a.hist),
            anns_field=anns, shape_count=a.shape_count,
        )


def _clamp(value: float, a: _Acc) -> float:
    """A sketch quantile never lies outside the shape's exact min and max."""
    if a.count == 0:
        return 0.0
    return min(max(value, a.min), a.max)


def _clamp_nq(value: float, a: _Acc) -> float:
    return min(max(value, a.nq_min), a.nq_max)
