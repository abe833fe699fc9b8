"""The typed objects that flow through the pipeline.

trigger -> TriageRequest -> Evidence (signals, slow log, Milvus facts, what is missing)
        -> Findings -> Diagnosis

Everything here is plain data: no I/O, no Slack, no Prometheus. Latencies coming from Milvus
histograms stay in milliseconds (Milvus exports them in ms); every value carries its unit so
one formatter (bot.format) can render it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.slowlog.request import SlowRequest as SlowRequest

# Units a signal can carry. One formatter (bot.format.format_value) renders each of them.
Unit = Literal["ms", "s", "ratio", "count", "per_s", "cores", "bytes", "nq", "info"]

# Evidence sources, as named in "could not check" lines.
SourceName = Literal["metrics", "slowlog", "milvus"]


class TimeWindow(BaseModel):
    """The window a diagnosis looks at. `baseline()` is the same window one day earlier."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def label(self) -> str:
        """Prometheus-style range string, e.g. '30m', used in range selectors like [30m]."""
        from bot.timewindow import format_duration

        return format_duration(self.end - self.start)

    def baseline(self, offset: timedelta = timedelta(days=1)) -> TimeWindow:
        return TimeWindow(start=self.start - offset, end=self.end - offset)


class TriageRequest(BaseModel):
    """Every trigger (slash command, mention, alert, webhook, CLI, schedule) becomes one of these."""

    cluster: str  # validated against config before a request is built
    collection: str | None = None  # validated against the live collection list before use in any call
    window: TimeWindow
    trigger: Literal["cli", "slash_command", "mention", "alert", "alertmanager", "button", "schedule"] = "cli"
    requested_by: str | None = None  # Slack user id, or the OS user for the CLI
    reply_to: dict[str, str] = Field(default_factory=dict)  # e.g. {"channel": "C1", "thread_ts": "1.2"}
    # Added by the playbooks issue: the latency users say they see (CLI --seen); Milvus cannot measure its clients.
    reported_latency_ms: float | None = None


# --------------------------------------------------------------------------- metrics


class SignalValue(BaseModel):
    """One named signal from playbooks/signals.yaml, evaluated over the window and its baseline.

    `value` is None when the signal could not be computed; `unavailable` then says why
    ("unavailable: timeout after 5s", "unavailable: no data (metric absent in Milvus 2.3)").
    """

    name: str
    title: str
    unit: Unit
    value: float | None = None
    baseline: float | None = None  # same window one day earlier
    unavailable: str | None = None
    baseline_unavailable: str | None = None
    query: str | None = None  # the PromQL actually used (after matcher injection), for "Show evidence"
    variant: str | None = None  # which fallback matched, e.g. "2.5+" or "2.3"
    by: dict[str, float] = Field(default_factory=dict)  # per-label breakdown, e.g. {"Growing": 8, "Sealed": 7}
    series: list[tuple[float, float]] = Field(default_factory=list)  # (unix ts, value) over the window, for charts
    baseline_series: list[tuple[float, float]] = Field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def ratio_to_baseline(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


# --------------------------------------------------------------------------- slow log


# SlowRequest lives in bot.slowlog.request (no pydantic on the digest's import path).


class SlowLogEvidence(BaseModel):
    """What the slow-log source found in the window. Memory stays bounded: `requests` is a capped sample."""

    source: str  # e.g. "files:/var/log/milvus/*.log", "loki:http://loki:3100", "slow_query_api:http://proxy:9091"
    lines_read: int = 0
    slow_lines: int = 0  # slow-request lines in the window (all of them, not only the sample)
    malformed: int = 0
    malformed_samples: list[str] = Field(default_factory=list)  # a few, truncated, for the reply
    requests: list[SlowRequest] = Field(default_factory=list)  # capped sample, slowest first
    truncated: bool = False  # True when `requests` holds fewer than `slow_lines`
    digest: Any | None = None  # bot.digest.Digest when computed (kept Any to avoid an import cycle)
    threshold_s: float | None = None  # the slow-log threshold for this Milvus version, when known
    threshold_per_nq: bool | None = None  # True when Search lines are logged by duration/nq (2.5.13+)


# --------------------------------------------------------------------------- Milvus facts


class IndexFacts(BaseModel):
    field_name: str
    index_name: str | None = None
    index_type: str | None = None  # HNSW, IVF_FLAT, FLAT, DISKANN, AUTOINDEX, STL_SORT, Trie, INVERTED, ...
    metric_type: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)  # nlist, M, efConstruction, json_path, mmap.enabled, ...
    state: str | None = None  # Finished / InProgress / ...
    total_rows: int | None = None
    indexed_rows: int | None = None
    pending_index_rows: int | None = None


class FieldFacts(BaseModel):
    name: str
    data_type: str  # pymilvus DataType name: INT64, VARCHAR, JSON, BOOL, FLOAT_VECTOR, ARRAY, ...
    is_primary: bool = False
    is_partition_key: bool = False
    is_vector: bool = False
    element_type: str | None = None
    max_length: int | None = None
    dim: int | None = None
    index: IndexFacts | None = None  # the index on this field, scalar or vector


class SegmentFacts(BaseModel):
    total: int = 0
    sealed: int = 0
    growing: int = 0
    unindexed_sealed: int = 0  # sealed segments with no vector index loaded (index_name == "")
    small: int = 0  # sealed segments far below the seal size
    rows_min: int | None = None
    rows_median: int | None = None
    rows_max: int | None = None
    # Added by the milvus-source issue:
    # Sealed segments whose reported index_name is a *scalar* index. 2.3.5 reports one index name per
    # segment (whichever it loaded last), so whether the vector index is loaded there is unknown.
    index_unknown: int = 0
    # False when this server version is known not to report growing segments here (2.3.x: only sealed
    # ones; growing ones show only in milvus_querynode_segment_num), True when some were reported.
    growing_reported: bool | None = None
    source: str | None = None  # the call that gave these facts, e.g. "list_loaded_segments"


class CollectionFacts(BaseModel):
    name: str
    collection_id: int | None = None
    db: str = "default"
    fields: list[FieldFacts] = Field(default_factory=list)
    consistency_level: str | None = None  # Strong / Session / Bounded / Eventually / Customized
    load_state: str | None = None  # Loaded / NotLoad / Loading / NotExist
    row_count: int | None = None
    mmap_enabled: bool | None = None
    segments: SegmentFacts | None = None
    segments_unavailable: str | None = None  # why segment facts are missing (e.g. UNIMPLEMENTED on Milvus Lite)
    # Added by the milvus-source issue: every index, also when one field has several (JSON path indexes).
    indexes: list[IndexFacts] = Field(default_factory=list)

    def field(self, name: str) -> FieldFacts | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def vector_fields(self) -> list[FieldFacts]:
        return [f for f in self.fields if f.is_vector]


class MilvusEvidence(BaseModel):
    uri: str  # with any credentials removed
    server_version: str | None = None  # as the server reports it, e.g. "v2.3.5-lite", "2.6.3", "milvus_lite-3.2.2"
    collections: list[CollectionFacts] = Field(default_factory=list)
    collections_unavailable: dict[str, str] = Field(default_factory=dict)  # name -> why it could not be read

    def collection(self, name: str) -> CollectionFacts | None:
        return next((c for c in self.collections if c.name == name), None)


# --------------------------------------------------------------------------- evidence


class Missing(BaseModel):
    """Something that could not be gathered, and why. Rendered under "could not check"."""

    source: SourceName
    what: str  # "Prometheus", "signal queue_p99", "segments of my_repos", ...
    reason: str


class Evidence(BaseModel):
    """Everything the playbook rules may look at, for one cluster and one window."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    cluster: str
    window: TimeWindow
    collection: str | None = None
    gathered_at: datetime
    milvus_version: str | None = None  # best known: milvus_build_info, then pymilvus, then config
    signals: dict[str, SignalValue] = Field(default_factory=dict)
    slowlog: SlowLogEvidence | None = None
    milvus: MilvusEvidence | None = None
    missing: list[Missing] = Field(default_factory=list)
    source_seconds: dict[str, float] = Field(default_factory=dict)  # how long each source took

    def signal(self, name: str) -> SignalValue | None:
        return self.signals.get(name)


# --------------------------------------------------------------------------- diagnosis

Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


class Finding(BaseModel):
    """One rule that fired: the cause, the proof, and what to do."""

    rule_id: str
    cause: str  # heavy_workload / inefficient_filtering / vector_index / runtime_environment / outside_milvus / healthy
    title: str  # "One request with NQ=8192 dominates the query node"
    severity: Severity
    summary: str  # one line with the numbers
    evidence: list[str] = Field(default_factory=list)  # rendered evidence lines (plain text, not escaped)
    fix_steps: list[str] = Field(default_factory=list)  # rendered, numbered in output
    code: list[str] = Field(default_factory=list)  # code snippets (create_index calls, rewritten filters)
    links: list[str] = Field(default_factory=list)
    strength: float = 0.0  # how strongly the evidence supports it (0..1), for ranking within a severity
    collection: str | None = None
    signals: list[str] = Field(default_factory=list)  # signal names this finding rests on (for charts)


class Diagnosis(BaseModel):
    request: TriageRequest
    evidence: Evidence
    findings: list[Finding] = Field(default_factory=list)  # ranked: severity, then strength
    healthy: list[str] = Field(default_factory=list)  # "checked and healthy" lines
    not_checked: list[str] = Field(default_factory=list)  # "could not check" lines, with reasons
    verdict: str = ""  # one line: "Heavy NQ on prod-eu: 2 findings" / "prod-eu looks healthy"
    top_cause: str | None = None
    elapsed_s: float = 0.0

    @property
    def is_healthy(self) -> bool:
        return not any(f.severity in ("critical", "warning") for f in self.findings)
