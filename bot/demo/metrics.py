"""Scenario -> Milvus metrics in an OpenMetricsWriter (bot.promlab), with the real metric names and
labels of the scenario's Milvus version, and `cluster="<name>"` on every series so one Prometheus
holds every demo cluster.

Histograms are given per 15 s step as mixes ([value, weight], ...) scaled by the events of that step
(searches, or segments searched); counts are rounded by error diffusion so every count is an integer
and the totals stay exact over the window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.demo.scenario import GaugeSpec, Metrics, Mix, Scenario, SegmentGroup
from bot.promlab import OpenMetricsWriter

NODE = "1"
DAY = 86400.0
# The process started long before either window (so uptime is days), unless the scenario restarts it.
UPTIME_BEFORE_S = 9 * DAY


@dataclass(frozen=True)
class Style:
    """Which metric names and labels a Milvus version exports (milvus-signals.md §3)."""

    version: tuple[int, int, int]

    @property
    def build_info(self) -> bool:  # milvus_build_info: 2.3.8+
        return self.version >= (2, 3, 8)

    @property
    def slow_query_count(self) -> bool:  # milvus_proxy_slow_query_count: 2.3.13+
        return self.version >= (2, 3, 13)

    @property
    def collection_labels(self) -> bool:  # db_name/collection_name on proxy metrics: 2.4+
        return self.version >= (2, 4, 0)

    @property
    def segcore_split(self) -> bool:  # internal_core_search_latency: 2.5+
        return self.version >= (2, 5, 0)

    @property
    def indexed_field_count(self) -> bool:  # label on segment_num/entity_num: 2.3/2.4 only
        return self.version < (2, 5, 0)

    @property
    def segment_level(self) -> bool:
        return self.version >= (2, 4, 0)

    @property
    def executing_nq(self) -> bool:  # milvus_proxy_executing_total_nq: set in 2.3 only
        return self.version < (2, 4, 0)

    @property
    def unsolved_len(self) -> bool:  # removed in 2.6.17
        return self.version < (2, 6, 17)

    @property
    def version_label(self) -> str:
        return "v" + ".".join(str(p) for p in self.version)


class _Diffuse:
    """Turns fractional per-step counts into integers whose running sum tracks the exact sum."""

    def __init__(self) -> None:
        self.carry: dict[object, float] = {}

    def __call__(self, key: object, x: float) -> int:
        acc = self.carry.get(key, 0.0) + x
        n = math.floor(acc + 1e-9)
        self.carry[key] = acc - n
        return n


class ScenarioMetrics:
    """Writes one scenario's series. `end` is the window end (unix s); the window is
    (end - window_s, end]; anything more than 12 h before `end` belongs to the baseline."""

    def __init__(self, writer: OpenMetricsWriter, sc: Scenario, base: Metrics, end: float,
                 slow_times: Iterable[float] = ()) -> None:
        self.w = writer
        self.sc = sc
        self.style = Style(sc.version_tuple)
        self.win = sc.window_metrics(base)
        self.base = sc.baseline_metrics(base)
        self.end = end
        self.window_s = sc.window_minutes * 60.0
        self.step = writer.step_s
        self.slow_times = sorted(slow_times)
        self.common = {"cluster": sc.cluster, "job": "milvus", "instance": f"{sc.cluster}-standalone"}
        self.restart_at: float | None = None
        self.down: tuple[float, float] | None = None
        if self.win.restart is not None:
            r = self.win.restart
            self.restart_at = self._align(end - r.minutes_before_end * 60.0)
            self.down = (self.restart_at - r.down_scrapes * self.step, self.restart_at)

    # ------------------------------------------------------------------ helpers

    def _align(self, t: float) -> float:
        return math.floor(t / self.step) * self.step

    def in_window(self, t: float) -> bool:
        return t > self.end - DAY / 2

    def knobs(self, t: float) -> Metrics:
        return self.win if self.in_window(t) else self.base

    def is_down(self, t: float) -> bool:
        return self.down is not None and self.down[0] <= t < self.down[1]

    def labels(self, **extra: str) -> dict[str, str]:
        return {**self.common, **extra}

    def window_start(self, t: float) -> float:
        """Start of the window (incident or baseline) that t belongs to."""
        e = self.end if self.in_window(t) else self.end - DAY
        return e - self.window_s

    def qps(self, m: Metrics) -> float:
        return m.qps or 0.0

    def total_qps(self, m: Metrics) -> float:
        fail = m.fail_ratio or 0.0
        return self.qps(m) / (1.0 - fail) if fail < 1 else self.qps(m)

    def segs(self, m: Metrics) -> dict[str, float]:
        return m.segments_per_search or {"Sealed": 1.0}

    def gauge_value(self, g: GaugeSpec | float | None, t: float) -> float | None:
        if g is None:
            return None
        if not isinstance(g, GaugeSpec):
            return float(g)
        i = round((t - self.window_start(t)) / self.step)
        v = g.base + g.per_min * max(0.0, t - self.window_start(t)) / 60.0
        if g.peak is not None and g.every and i % g.every == 0:
            v = g.peak
        return v

    # ------------------------------------------------------------------ writers

    def hist(self, name: str, labels: dict[str, str], pick: Callable[[Metrics], Mix | None],
             events_per_s: Callable[[Metrics], float], buckets: Iterable[float] | None = None) -> None:
        """A histogram present whenever `pick` gives a mix (an empty mix: the series is absent)."""
        if not any(pick(m) for m in (self.win, self.base)):
            return
        diffuse = _Diffuse()

        def obs(t: float) -> list[tuple[float, int]] | None:
            if self.is_down(t):
                return None
            m = self.knobs(t)
            mix = pick(m)
            if not mix:
                return None
            total_w = sum(w for _, w in mix)
            n = events_per_s(m) * self.step
            return [(v, diffuse((i, self.in_window(t)), n * w / total_w)) for i, (v, w) in enumerate(mix)]

        kwargs = {"buckets": tuple(buckets)} if buckets is not None else {}
        self.w.histogram(name, labels, obs, **kwargs)

    def counter(self, name: str, labels: dict[str, str], rate: Callable[[Metrics, float], float | None],
                resets: bool = True) -> None:
        """A counter growing at rate(m, t) per second; reset to 0 by a restart; absent while down."""
        state = {"acc": 0.0, "prev": None}
        if all(rate(m, self.end - 1) is None for m in (self.win, self.base)):
            return

        def total(t: float) -> float | None:
            prev = state["prev"]
            state["prev"] = t
            if self.is_down(t):
                return None
            r = rate(self.knobs(t), t)
            if r is None:
                return None
            if resets and self.restart_at is not None and prev is not None and prev < self.restart_at <= t:
                state["acc"] = 0.0
            elif prev is not None:
                state["acc"] += r * (t - prev)
            return state["acc"]

        self.w.counter(name, labels, total=total)

    def gauge(self, name: str, labels: dict[str, str], value: Callable[[Metrics, float], float | None]) -> None:
        def fn(t: float) -> float | None:
            if self.is_down(t):
                return None
            return value(self.knobs(t), t)

        if all(value(m, self.end - 1) is None for m in (self.win, self.base)):
            return
        self.w.gauge(name, labels, fn)

    def events_in_window(self, count_of: Callable[[Metrics], float | None]) -> Callable[[Metrics, float], float]:
        """Rate that puts `count` events inside each window (none in the padding before it)."""
        def rate(m: Metrics, t: float) -> float:
            n = count_of(m) or 0.0
            start = self.window_start(t)
            if t <= start or t > start + self.window_s:
                return 0.0
            return n / self.window_s
        return rate

    # ------------------------------------------------------------------ the metric families

    def write(self) -> None:
        self.write_proxy()
        self.write_querynode()
        self.write_segments()
        self.write_background()
        self.write_runtime()

    def proxy_labels(self, **extra: str) -> dict[str, str]:
        lab = self.labels(node_id=NODE, **extra)
        if self.style.collection_labels and self.sc.collection:
            lab.update(db_name="default", collection_name=self.sc.collection)
        return lab

    def write_proxy(self) -> None:
        st = self.style
        self.hist("milvus_proxy_sq_latency", self.proxy_labels(query_type="search"), lambda m: m.proxy, self.qps)
        if not st.collection_labels and self.sc.collection:
            self.hist("milvus_proxy_collection_sq_latency",
                      self.labels(node_id=NODE, query_type="search", collection_name=self.sc.collection),
                      lambda m: m.proxy, self.qps)
        for status, fn in (("success", self.qps), ("total", self.total_qps),
                           ("fail", lambda m: self.total_qps(m) - self.qps(m))):
            self.counter("milvus_proxy_req_count", self.proxy_labels(function_name="Search", status=status),
                         lambda m, t, fn=fn: fn(m))
        nq_labels = self.labels(node_id=NODE, query_type="search", collection_name=self.sc.collection or "")
        if st.collection_labels and self.sc.collection:
            nq_labels["db_name"] = "default"
        self.counter("milvus_proxy_received_nq", nq_labels,
                     lambda m, t: self.total_qps(m) * (m.nq_per_request or 1.0))
        self.counter("milvus_proxy_search_vectors_count", self.labels(node_id=NODE),
                     lambda m, t: self.total_qps(m) * (m.nq_per_request or 1.0))
        if st.executing_nq:
            self.gauge("milvus_proxy_executing_total_nq", self.labels(node_id=NODE),
                       lambda m, t: self.gauge_value(m.executing_nq, t) or 0.0)
        self.counter("milvus_proxy_insert_vectors_count", self.labels(node_id=NODE),
                     lambda m, t: m.insert_rate or 0.0)
        self.counter("milvus_proxy_req_count", self.proxy_labels(function_name="Flush", status="success"),
                     lambda m, t: m.flush_rate if m.flush_rate else None)
        if st.slow_query_count and self.slow_times:
            self.w.counter("milvus_proxy_slow_query_count", self.labels(node_id=NODE, msg_type="search"),
                           total=lambda t: float(sum(1 for s in self.slow_times if s <= t)))
        before = Style(self.sc.baseline_version_tuple)
        if st.build_info and before.version_label == st.version_label:
            self.w.gauge("milvus_build_info", self.labels(version=st.version_label, built="demo",
                                                          git_commit="0000000"), 1.0)
        else:  # upgraded between the baseline and the window: one series per version
            for sty, now in ((before, False), (st, True)):
                if sty.build_info:
                    self.w.gauge("milvus_build_info", self.labels(version=sty.version_label, built="demo",
                                                                  git_commit="0000000"),
                                 lambda t, now=now: 1.0 if self.in_window(t) == now else None)

    def write_querynode(self) -> None:
        st = self.style
        qn = self.labels(node_id=NODE, query_type="search")
        segs_total = lambda m: self.qps(m) * sum(self.segs(m).values())  # noqa: E731
        self.hist("milvus_querynode_sq_queue_latency", qn, lambda m: m.queue, self.qps)
        self.hist("milvus_querynode_sq_wait_tsafe_latency", qn, lambda m: m.wait_tsafe, self.qps)
        self.hist("milvus_querynode_sq_core_latency", qn, lambda m: m.core, segs_total)
        self.hist("milvus_querynode_sq_reduce_latency", {**qn, "reduce_level": "segments"}, lambda m: m.reduce,
                  self.qps)
        states = sorted({s for m in (self.win, self.base) for s in self.segs(m)})
        for state in states:
            def pick(m: Metrics, state: str = state) -> Mix | None:
                if not self.segs(m).get(state):
                    return None
                return (m.segment or {}).get(state) or m.core

            def ev(m: Metrics, state: str = state) -> float:
                return self.qps(m) * self.segs(m).get(state, 0.0)

            self.hist("milvus_querynode_sq_segment_latency", {**qn, "segment_state": state}, pick, ev)
            if any(m.per_vector for m in (self.win, self.base)):
                self.hist("milvus_querynode_segment_latency_per_vector", {**qn, "segment_state": state},
                          lambda m, pick=pick: m.per_vector if pick(m) else None, ev)
        for scope in ("OnLeader", "FromLeader"):
            self.counter("milvus_querynode_sq_req_count", {**qn, "scope": scope, "status": "success"},
                         lambda m, t: self.qps(m))
            self.hist("milvus_querynode_sq_req_latency", {**qn, "scope": scope}, lambda m: m.proxy, self.qps)
        nodel = self.labels(node_id=NODE)
        self.hist("milvus_querynode_search_nq", nodel, lambda m: m.search_nq, self.qps)
        self.hist("milvus_querynode_search_topk", nodel, lambda m: m.topk, self.qps)

        def groups(m: Metrics) -> float:
            mix = m.group_size or [(1.0, 1.0)]
            mean = sum(v * w for v, w in mix) / sum(w for _, w in mix)
            return self.qps(m) / max(mean, 1.0)

        self.hist("milvus_querynode_search_group_size", nodel, lambda m: m.group_size, groups)
        if st.segcore_split:
            core = self.labels()
            self.hist("internal_core_search_latency", {**core, "type": "vector_latency"}, lambda m: m.vector,
                      segs_total)
            self.hist("internal_core_search_latency", {**core, "type": "scalar_latency"}, lambda m: m.scalar,
                      segs_total)
            self.hist("internal_core_search_latency", {**core, "type": "scalar_proportion"},
                      lambda m: m.scalar_proportion, segs_total,
                      buckets=[0.05 * i for i in range(1, 21)])
        else:
            # knowhere_search_latency has no labels of its own in 2.3; FLAT searches never observe it.
            self.hist("knowhere_search_latency", self.labels(), lambda m: m.knowhere, segs_total)
        if st.unsolved_len:
            self.gauge("milvus_querynode_read_task_unsolved_len", nodel,
                       lambda m, t: self.gauge_value(m.unsolved_len, t) or 0.0)
        # 2.6.17 replaced the ready-task length with the NQ of ready tasks.
        ready = "milvus_querynode_read_task_ready_nq" if st.version >= (2, 6, 17) else \
            "milvus_querynode_read_task_ready_len"
        self.gauge(ready, nodel, lambda m, t: self.gauge_value(m.ready_len, t) or 0.0)
        self.gauge("milvus_querynode_read_task_concurrency", nodel,
                   lambda m, t: self.gauge_value(m.read_concurrency, t) or 0.0)
        self.gauge("milvus_querynode_consume_tt_lag_ms",
                   self.labels(node_id=NODE, msg_type="insert", collection_id=self.primary_collection_id()),
                   lambda m, t: self.gauge_value(m.consume_tt_lag_ms, t) or 0.0)
        if st.version >= (2, 4, 0):
            self.counter("milvus_querynode_segment_access_wait_cache_duration",
                         self.labels(node_id=NODE, db_name="default", rg="__default_resource_group",
                                     query_type="search"),
                         lambda m, t: m.disk_cache_wait_ms_per_s or 0.0)
        if st.segcore_split:
            self.gauge("internal_mmap_in_used_space_bytes", self.labels(type="file"),
                       lambda m, t: m.mmap_bytes or 0.0)
        if st.version >= (2, 6, 0):
            for kind in ("hit", "miss"):
                self.counter(f"internal_cache_cell_access_{kind}_total",
                             self.labels(data_type="vector_index", location="memory"),
                             lambda m, t, kind=kind: self._cache(m, kind))

    def _cache(self, m: Metrics, kind: str) -> float:
        accesses = self.qps(m) * 10.0
        miss = m.cache_miss_ratio or 0.0
        return accesses * (miss if kind == "miss" else 1.0 - miss)

    def primary_collection_id(self) -> str:
        groups = (self.win.segments or []) + (self.base.segments or [])
        return groups[0].collection_id if groups else "0"

    def write_segments(self) -> None:
        st = self.style
        keys: dict[tuple[str, ...], dict[str, str]] = {}

        def key_of(g: SegmentGroup) -> tuple[str, ...]:
            return (g.collection_id, g.state, str(g.indexed_field_count), g.level)

        def labels_of(g: SegmentGroup) -> dict[str, str]:
            lab = self.labels(node_id=NODE, collection_id=g.collection_id, segment_state=g.state)
            if st.indexed_field_count:
                lab.update(partition_id=str(int(g.collection_id) + 1), indexed_field_count=str(g.indexed_field_count))
            if st.segment_level:
                lab["segment_level"] = g.level
            return lab

        for m in (self.win, self.base):
            for g in m.segments or []:
                keys.setdefault(key_of(g), labels_of(g))

        def find(m: Metrics, k: tuple[str, ...]) -> SegmentGroup | None:
            return next((g for g in m.segments or [] if key_of(g) == k), None)

        for k, lab in sorted(keys.items()):
            self.gauge("milvus_querynode_segment_num", lab,
                       lambda m, t, k=k: (g.count if (g := find(m, k)) else None))
            elab = dict(lab)
            if st.segcore_split:
                elab.pop("segment_level", None)
                elab.update(db_name="default", collection_name=self.sc.collection or "")
            self.gauge("milvus_querynode_entity_num", elab,
                       lambda m, t, k=k: (g.rows if (g := find(m, k)) else None))
        self.gauge("milvus_datacoord_segment_num", self.labels(segment_state="Dropped"),
                   lambda m, t: self.gauge_value(m.datacoord_dropped, t) if m.datacoord_dropped is not None else 0.0)

    def write_background(self) -> None:
        st = self.style
        comp = "milvus_datacoord_compaction_latency" if st.segcore_split else "milvus_datanode_compaction_latency"
        comp_labels = self.labels() if st.segcore_split else self.labels(node_id=NODE)
        if st.segcore_split:
            comp_labels.update(is_vector_field="true", channel_name="by-dev-rootcoord-dml_0",
                               compaction_type="MixCompaction", compaction_stage="execute")
        long_buckets = (1, 100, 500, 1000, 5000, 10000, 20000, 50000, 100000, 250000, 500000, 1000000, 3600000,
                        5000000, 10000000)
        if any(m.compactions for m in (self.win, self.base)):
            rate = self.events_in_window(lambda m: m.compactions)
            self._event_hist(comp, comp_labels, rate, lambda m: m.compaction_ms or 3000.0, long_buckets)
        if any(m.index_builds for m in (self.win, self.base)):
            rate = self.events_in_window(lambda m: m.index_builds)
            self._event_hist("milvus_indexnode_build_index_latency", self.labels(node_id=NODE), rate,
                             lambda m: m.index_build_ms or 20000.0, long_buckets)
        if any(m.index_tasks is not None for m in (self.win, self.base)):
            self.gauge("milvus_datacoord_index_task_count",
                       self.labels(collection_id=self.primary_collection_id(), index_task_status="in-progress"),
                       lambda m, t: self.gauge_value(m.index_tasks, t) or 0.0)
        if st.version >= (2, 4, 0) and any(m.compaction_tasks is not None for m in (self.win, self.base)):
            self.gauge("milvus_datacoord_compaction_task_num",
                       self.labels(node_id=NODE, compaction_type="MixCompaction", status="executing"),
                       lambda m, t: self.gauge_value(m.compaction_tasks, t) or 0.0)

    def _event_hist(self, name: str, labels: dict[str, str], rate: Callable[[Metrics, float], float],
                    value: Callable[[Metrics], float], buckets: tuple[float, ...]) -> None:
        diffuse = _Diffuse()

        def obs(t: float) -> list[tuple[float, int]] | None:
            if self.is_down(t):
                return None
            m = self.knobs(t)
            return [(value(m), diffuse(self.in_window(t), rate(m, t) * self.step))]

        self.w.histogram(name, labels, obs, buckets=buckets)

    def write_runtime(self) -> None:
        start_before = self.end - UPTIME_BEFORE_S - DAY

        def start_time(m: Metrics, t: float) -> float:
            if self.restart_at is not None and self.in_window(t) and t >= self.restart_at:
                return self.restart_at - 5.0  # started a few seconds before the first scrape
            return start_before

        self.gauge("process_start_time_seconds", self.labels(), start_time)
        self.w.gauge("up", self.labels(), lambda t: 0.0 if self.is_down(t) else 1.0)
        self.counter("process_cpu_seconds_total", self.labels(), lambda m, t: m.cpu_cores or 0.0)
        self.gauge("process_resident_memory_bytes", self.labels(), lambda m, t: m.memory_bytes or 0.0)
        if any(m.disk_io_util is not None for m in (self.win, self.base)):
            node = {"cluster": self.sc.cluster, "job": "node", "instance": f"{self.sc.cluster}-node",
                    "device": "nvme0n1"}
            self.counter("node_disk_io_time_seconds_total", node, lambda m, t: m.disk_io_util or 0.0,
                         resets=False)


def write_metrics(writer: OpenMetricsWriter, sc: Scenario, base: Metrics, end: float,
                  slow_times: Iterable[float] = ()) -> None:
    ScenarioMetrics(writer, sc, base, end, slow_times).write()
