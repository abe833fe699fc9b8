"""One parsed slow-request line: the type the slow-log parser produces and the digest consumes.

Kept apart from bot.models (which re-exports it) so that the digest's import path does not pay
for pydantic: `milvus-triage digest` starts measurably faster (bench/digest.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(slots=True)
class SlowRequest:
    """One parsed `Search slow` / `Query slow` / `HybridSearch slow` line.

    A dataclass (not pydantic) because the digest parses millions of these.
    Every field but `kind` and `duration_s` is optional: the fields differ by Milvus version.
    """

    kind: Literal["search", "query", "hybrid_search"]
    duration_s: float
    time: datetime | None = None
    trace_id: str | None = None
    role: str | None = None
    db: str | None = None
    collection: str | None = None
    partitions: list[str] = field(default_factory=list)
    dsl: str = ""  # the filter expression (`dsl` for search, `expr` for query, joined `dsls` for hybrid)
    nq: int | None = None
    topk: int | None = None
    metric_type: str | None = None
    anns_field: str | None = None
    search_params: dict[str, Any] = field(default_factory=dict)  # the inner params: nprobe, ef, search_list, ...
    output_fields: list[str] = field(default_factory=list)
    consistency_level: str | None = None  # logged from 2.5; inferred from guarantee_timestamp before
    use_default_consistency: bool | None = None
    guarantee_timestamp: int | None = None
    duration_per_nq_s: float | None = None
    placeholder_bytes: int | None = None  # len(PlaceholderGroup)
    fmt: Literal["text", "json", "api"] = "text"
    raw: str = ""  # the original line, truncated to a few KB, for "worst sample"
    dsls: list[str] = field(default_factory=list)  # HybridSearch: each sub-request's filter, in order
