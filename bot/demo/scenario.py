"""Demo scenarios: one YAML file per demo cluster under demo/scenarios/, plus demo/base.yaml.

A scenario is data: the cluster's Milvus version, the metric shapes in the incident window and in
the baseline window (same window one day earlier), its slow-log lines, its Milvus Lite collections
and the rule ids it is expected to fire. `base.yaml` holds the healthy shapes (the measured healthy
2.3.5 signature); a scenario only overrides the knobs that differ, knob by knob.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.playbook.versions import parse_version

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
SCENARIO_DIR = DEMO_DIR / "scenarios"
BASE_PATH = DEMO_DIR / "base.yaml"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# (observed value, weight): a histogram's observations per step, as shares of the step's events.
Mix = list[tuple[float, float]]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GaugeSpec(_Strict):
    """A gauge over the window: `base`, with `peak` every `every` steps (0 = never), or a ramp."""

    base: float = 0.0
    peak: float | None = None
    every: int = 0
    per_min: float = 0.0  # linear ramp from `base` (for counters shown as gauges, e.g. Dropped segments)


class SegmentGroup(_Strict):
    collection_id: str
    state: Literal["Sealed", "Growing"] = "Sealed"
    indexed_field_count: int = 1
    count: float = 1
    rows: float = 0  # rows in all segments of this group
    level: str = "L1"  # 2.4+ segment_level


class Restart(_Strict):
    minutes_before_end: float = 12.0
    down_scrapes: int = 2


Gauge = float | GaugeSpec


class Metrics(_Strict):
    """Every knob the generator understands. Histograms are mixes: [[value, weight], ...] per step."""

    qps: float | None = None  # successful searches per second
    fail_ratio: float | None = None
    nq_per_request: float | None = None
    search_nq: Mix | None = None
    topk: Mix | None = None
    group_size: Mix | None = None
    proxy: Mix | None = None  # ms, end to end at the proxy (successful searches)
    queue: Mix | None = None
    wait_tsafe: Mix | None = None
    core: Mix | None = None  # per segment searched
    reduce: Mix | None = None
    segment: dict[str, Mix] | None = None  # by segment_state, per segment searched
    segments_per_search: dict[str, float] | None = None  # by segment_state
    per_vector: Mix | None = None
    knowhere: Mix | None = None  # 2.3/2.4 knowhere_search_latency; empty list = absent (FLAT)
    vector: Mix | None = None  # 2.5+ internal_core_search_latency{type="vector_latency"}
    scalar: Mix | None = None  # 2.5+ {type="scalar_latency"}
    scalar_proportion: Mix | None = None  # 2.5+ {type="scalar_proportion"} (0..1)
    ready_len: Gauge | None = None
    unsolved_len: Gauge | None = None
    read_concurrency: Gauge | None = None
    executing_nq: Gauge | None = None
    cpu_cores: float | None = None
    memory_bytes: float | None = None
    insert_rate: float | None = None
    flush_rate: float | None = None
    consume_tt_lag_ms: Gauge | None = None
    segments: list[SegmentGroup] | None = None
    datacoord_dropped: Gauge | None = None
    compactions: float | None = None  # finished in the window
    compaction_ms: float | None = None
    index_builds: float | None = None  # finished in the window
    index_build_ms: float | None = None
    index_tasks: Gauge | None = None  # unissued + in-progress
    compaction_tasks: Gauge | None = None  # 2.4+ executing
    restart: Restart | None = None
    disk_io_util: float | None = None  # node_exporter busy-time ratio (0..1)
    disk_cache_wait_ms_per_s: float | None = None  # 2.4+
    mmap_bytes: float | None = None  # 2.5+
    cache_miss_ratio: float | None = None  # 2.6


class OrChain(_Strict):
    """A generated filter: `field == "value0" or field == "value1" or ...` (`{i}` numbers the values)."""

    field: str
    value: str = "v{i}"
    count: int = Field(ge=2, le=10_000)
    balanced: bool = False  # a balanced tree of parentheses instead of a linear chain

    def text(self) -> str:
        terms = [f'{self.field} == "{self.value.format(i=i)}"' for i in range(self.count)]
        if not self.balanced:
            return " or ".join(terms)
        while len(terms) > 1:
            terms = [f"({terms[i]} or {terms[i + 1]})" if i + 1 < len(terms) else terms[i]
                     for i in range(0, len(terms), 2)]
        return terms[0]


class SlowEntry(_Strict):
    """`count` Search-slow lines of one shape, spread over the window (or at `at_min_before_end`)."""

    count: int = 1
    kind: Literal["Search", "Query"] = "Search"
    collection: str
    db: str = "default"
    nq: int = 1
    topk: int = 10
    dsl: str = ""
    or_chain: OrChain | None = None  # generated filter; joined to `dsl` with "and" when both are set
    params: dict[str, Any] = Field(default_factory=dict)  # nprobe / ef / search_list ...
    metric_type: str = "L2"
    anns_field: str = "vec"
    output_fields: list[str] = Field(default_factory=list)
    consistency: Literal["Strong", "Session", "Bounded", "Eventually"] = "Bounded"
    duration_s: tuple[float, float] = (5.0, 6.0)
    at_min_before_end: float | None = None  # all lines of this entry around this time
    spread_s: float = 60.0  # with at_min_before_end: lines fall within this many seconds after it


    @property
    def filter(self) -> str:
        chain = self.or_chain.text() if self.or_chain else ""
        if chain and self.dsl:
            return f"({chain}) and {self.dsl}"
        return chain or self.dsl


class SlowLog(_Strict):
    format: Literal["text", "json"] = "text"
    entries: list[SlowEntry] = Field(default_factory=list)
    noise: list[Literal["gc", "rocksmq", "timetick", "or_fail"]] = Field(default_factory=list)
    old_lines: int = 2  # slow lines from before the window (must not be counted)


class FieldSpec(_Strict):
    name: str
    type: Literal["INT64", "VARCHAR", "JSON", "BOOL", "DOUBLE", "FLOAT"]
    values: list[Any] = Field(default_factory=list)  # cycled through; JSON values are dicts
    index: str | None = None  # scalar index type (Milvus Lite only builds INVERTED)

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"{v!r} is not a valid Milvus field name")
        return v


class CollectionSpec(_Strict):
    name: str
    rows: int = 20_000
    dim: int = 8
    metric_type: str = "L2"
    index_type: str = "HNSW"
    index_params: dict[str, Any] = Field(default_factory=dict)
    consistency: Literal["Strong", "Session", "Bounded", "Eventually"] = "Bounded"
    mmap: bool = False
    fields: list[FieldSpec] = Field(default_factory=list)
    load: bool = True

    @field_validator("name")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"{v!r} is not a valid Milvus collection name")
        return v


class MilvusSpec(_Strict):
    collections: list[CollectionSpec] = Field(default_factory=list)


class Expect(_Strict):
    fires: list[str] = Field(default_factory=list)  # rule ids that must fire
    not_fires: list[str] = Field(default_factory=list)
    healthy: bool = False  # True: only the healthy rule may fire
    exclusive: bool = False  # True: no rule outside `fires` may fire


class RequestSpec(_Strict):
    """Extra request facts the scenario is asked with (e.g. latency users report)."""

    reported_latency_ms: float | None = None
    extra_args: list[str] = Field(default_factory=list)  # extra `milvus-triage slow` flags


class MetricWindows(_Strict):
    window: Metrics = Field(default_factory=Metrics)
    baseline: Metrics = Field(default_factory=Metrics)


class Scenario(_Strict):
    name: str
    cluster: str
    title: str
    story: str = ""
    milvus_version: str = "2.3.5"
    baseline_version: str | None = None  # the version a day earlier, when the cluster was upgraded since
    collection: str | None = None  # asked about (None: the whole cluster)
    window_minutes: int = 30
    request: RequestSpec = Field(default_factory=RequestSpec)
    metrics: MetricWindows = Field(default_factory=MetricWindows)
    slowlog: SlowLog = Field(default_factory=SlowLog)
    milvus: MilvusSpec = Field(default_factory=MilvusSpec)
    expect: Expect = Field(default_factory=Expect)
    source_path: str | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lower-case letters, digits and '_'")
        return v

    @property
    def db_name(self) -> str:
        """The Milvus Lite database holding this scenario's collections."""
        return f"demo_{self.name}"

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return self._version(self.milvus_version)

    @property
    def baseline_version_tuple(self) -> tuple[int, int, int]:
        return self._version(self.baseline_version or self.milvus_version)

    def _version(self, text: str) -> tuple[int, int, int]:
        v = parse_version(text)
        if v is None:
            raise ScenarioError(f"{self.name}: cannot read Milvus version {text!r}")
        return v

    def window_metrics(self, base: Metrics) -> Metrics:
        return _overlay(base, self.metrics.window)

    def baseline_metrics(self, base: Metrics) -> Metrics:
        return _overlay(base, self.metrics.baseline)


def _overlay(base: Metrics, over: Metrics) -> Metrics:
    data = base.model_dump(exclude_none=True)
    data.update(over.model_dump(exclude_none=True))
    return Metrics.model_validate(data)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ScenarioError(f"{path}: {e}") from e


def _describe(e: ValidationError, path: Path) -> str:
    return "\n".join(f"{path}: field {'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())


@cache
def load_base(path: Path = BASE_PATH) -> Metrics:
    data = _read_yaml(path) or {}
    try:
        return Metrics.model_validate(data.get("metrics", {}))
    except ValidationError as e:
        raise ScenarioError(_describe(e, path)) from e


def load_scenario(path: Path) -> Scenario:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(_describe(e, path)) from e
    if sc.name != path.stem:
        raise ScenarioError(f"{path}: name {sc.name!r} must match the file name {path.stem!r}")
    sc.source_path = str(path)
    return sc


def load_scenarios(names: list[str] | None = None, directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """All scenarios (sorted by name), or the named ones; an unknown name lists the known ones."""
    paths = sorted(directory.glob("*.yaml"))
    known = {p.stem: p for p in paths}
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ScenarioError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)}")
        paths = [known[n] for n in dict.fromkeys(names)]
    scenarios = [load_scenario(p) for p in paths]
    clusters = [s.cluster for s in scenarios]
    dup = {c for c in clusters if clusters.count(c) > 1}
    if dup:
        raise ScenarioError(f"cluster names used twice: {', '.join(sorted(dup))}")
    return scenarios
