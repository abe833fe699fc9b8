"""The digest's result types (the contract between the digest, the playbooks and the renderers).

A *shape* is a slow request's fingerprint: kind, db, collection, partitions, the filter with
literals replaced, NQ bucket, topk, metric type, bucketed index params, consistency level and
output-field count. The digest ranks shapes by total slow time, like pt-query-digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.slowlog.request import SlowRequest


@dataclass(slots=True)
class FilterAnalysis:
    """What a shape's filter expression does, for the playbooks."""

    fields: dict[str, list[str]] = field(default_factory=dict)  # field -> operators used on it ("==", "in", "like", ">", ...)
    or_chains: dict[str, int] = field(default_factory=dict)  # field -> longest OR chain of equalities on it
    or_chain_values: dict[str, list[str]] = field(default_factory=dict)  # field -> literals of that chain (as written)
    json_paths: list[str] = field(default_factory=list)  # e.g. ['meta["k"]']
    json_fields: list[str] = field(default_factory=list)  # top-level fields accessed with a JSON path
    leading_wildcard_like: list[str] = field(default_factory=list)  # fields with `like "%..."`
    unindexed_fields: list[str] = field(default_factory=list)  # filtered fields with no scalar index (needs Milvus facts)
    rewritten: str | None = None  # the same filter with OR chains rewritten as `field in [...]`, when there are any
    parse_error: str | None = None  # the filter could not be analysed (kept as text only)
    # Added by the digest issue:
    unindexed_json_paths: list[str] = field(default_factory=list)  # JSON paths no path index covers


@dataclass(slots=True)
class ShapeStats:
    fingerprint: str  # short stable id (hex), for reference in replies
    kind: str  # search / query / hybrid_search
    db: str | None
    collection: str | None
    partitions: list[str]
    filter_shape: str  # literals replaced: `user == ? && repo == ?`
    nq_bucket: str  # "1", "2-10", "11-100", "101-1000", "1001+"
    topk: int | None
    metric_type: str | None
    params_bucket: dict[str, str]  # {"nprobe": "129-1024"} ...
    consistency_level: str | None
    output_field_count: int
    count: int = 0
    total_s: float = 0.0
    share: float = 0.0  # of total slow time in the digest
    p50_s: float = 0.0
    p95_s: float = 0.0
    max_s: float = 0.0
    per_nq_p50_s: float | None = None
    max_nq: int | None = None
    vm_ratio: float = 0.0  # variance-to-mean of durations
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    worst: SlowRequest | None = None  # the slowest request of this shape (raw line kept, truncated)
    histogram: list[int] = field(default_factory=list)  # log10 buckets of duration: <10ms,10-100ms,100ms-1s,1-10s,10-100s,100s+
    analysis: FilterAnalysis = field(default_factory=FilterAnalysis)
    # Added by the digest issue:
    min_s: float = 0.0
    per_nq_p95_s: float | None = None
    anns_field: str | None = None
    shape_count: int = 1  # distinct shapes folded into this row (MISC and overflow rows hold many)
    outlier: bool = False  # listed because it is rare but very slow, not for its total time

    @property
    def avg_s(self) -> float:
        return self.total_s / self.count if self.count else 0.0


@dataclass(slots=True)
class Digest:
    total_count: int = 0
    total_s: float = 0.0
    shapes: list[ShapeStats] = field(default_factory=list)  # ranked by total_s, the top N
    other: ShapeStats | None = None  # everything beyond the top N and the outliers, folded (pt-query-digest's MISC)
    outliers: list[ShapeStats] = field(default_factory=list)  # rare but very slow shapes not in `shapes`
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    shape_count: int = 0  # distinct shapes seen
    # Added by the digest issue:
    overflow_count: int = 0  # requests whose shape came after the shape cap was reached (folded into `other`)
    max_shapes: int = 0  # the shape cap in force
    lines_read: int = 0  # log lines read by the source, when the caller knows (0 = unknown)
    malformed: int = 0  # slow-request lines that could not be parsed, when the caller knows
    source: str = ""  # where the lines came from, e.g. "files: a.log, b.log.gz"
    histogram: list[int] = field(default_factory=list)  # all requests, same log10 buckets as ShapeStats

    def for_collection(self, name: str) -> list[ShapeStats]:
        return [s for s in self.shapes if s.collection == name]
