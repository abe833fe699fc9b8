"""Collect the slow requests of a window from the cluster's configured log source.

`collect_slowlog` picks the backend from `cluster.logs` (files / loki / slow_query_api). With no
log source configured it falls back to the Milvus 2.5+ proxy endpoint when the configured
`milvus_version` is 2.5 or newer, deriving its URL from `milvus.uri` (same host, port 9091).
Every request of the window (and of the collection, when one is given) goes to each sink; the
evidence keeps counts and only the slowest 200 requests, so memory stays bounded.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from datetime import UTC

from bot.config import ClusterConfig
from bot.models import Missing, SlowLogEvidence, SlowRequest, TimeWindow
from bot.slowlog.sources import SlowLogSource, SourceStats, SourceUnavailable
from bot.slowlog.sources.files import FileSource
from bot.slowlog.sources.loki import LokiSource
from bot.slowlog.sources.slow_query_api import SlowQueryApiSource, derive_url
from bot.slowlog.versions import inferred_threshold, parse_version, threshold_for

log = logging.getLogger(__name__)

SAMPLE_SIZE = 200  # slowest requests kept in the evidence
Sink = Callable[[SlowRequest], None]


def choose_source(cluster: ClusterConfig) -> tuple[SlowLogSource | None, list[Missing]]:
    """The backend for this cluster, or None and why there is none."""
    logs = cluster.logs
    if logs is not None:
        if logs.files:
            return FileSource(logs.files), []
        if logs.loki is not None:
            return LokiSource(logs.loki), []
        if logs.slow_query_api:
            return SlowQueryApiSource(logs.slow_query_api, logs.timeout_s), []
    version = parse_version(cluster.milvus_version)
    if version is not None and version >= (2, 5, 0):
        url, why = derive_url(cluster.milvus)
        if url is None:
            return None, [Missing(source="slowlog", what="slow log",
                                  reason=f"no log source configured, and the Milvus {cluster.milvus_version} "
                                         f"slow_query endpoint cannot be located: {why}")]
        timeout = logs.timeout_s if logs is not None else 15.0
        return SlowQueryApiSource(url, timeout, derived=True), []
    hint = ""
    if version is not None:
        hint = f"; Milvus {cluster.milvus_version} has no slow_query endpoint (it came in 2.5)"
    elif cluster.milvus_version is None:
        hint = "; set milvus_version (2.5+) to use the proxy's slow_query endpoint instead"
    return None, [Missing(source="slowlog", what="slow log",
                          reason="no log source configured (logs.files, logs.loki or logs.slow_query_api)" + hint)]


def collect_slowlog(cluster: ClusterConfig, window: TimeWindow, collection: str | None,
                    sinks: list[Sink] | None = None,
                    source: SlowLogSource | None = None) -> tuple[SlowLogEvidence | None, list[Missing]]:
    """The window's slow requests -> (evidence, what could not be read). Never raises for source trouble."""
    missing: list[Missing] = []
    if source is None:
        source, missing = choose_source(cluster)
        if source is None:
            return None, missing
    window = _aware_window(window)
    acc = _Accumulator(sinks or [])
    stats = SourceStats()
    try:
        for req in source.iter_requests(window, collection, stats):
            acc.add(req)
    except SourceUnavailable as e:
        missing.append(Missing(source="slowlog", what=source.label, reason=str(e)))
        if acc.count == 0 and stats.lines_read == 0:
            return None, missing + stats.missing + acc.missing
    missing.extend(stats.missing)
    missing.extend(acc.missing)
    threshold = threshold_for(parse_version(cluster.milvus_version))
    if threshold is None and acc.legacy_search and not acc.modern_search:
        threshold = inferred_threshold("legacy")
    requests = acc.slowest()
    evidence = SlowLogEvidence(
        source=source.label,
        lines_read=stats.lines_read,
        slow_lines=acc.count,
        malformed=stats.malformed,
        malformed_samples=stats.malformed_samples,
        requests=requests,
        truncated=len(requests) < acc.count,
        threshold_s=threshold.threshold_s if threshold else None,
        threshold_per_nq=threshold.per_nq if threshold else (True if acc.per_nq_seen else None),
    )
    return evidence, missing


def _aware_window(window: TimeWindow) -> TimeWindow:
    if window.start.tzinfo is not None and window.end.tzinfo is not None:
        return window
    return TimeWindow(start=window.start if window.start.tzinfo else window.start.replace(tzinfo=UTC),
                      end=window.end if window.end.tzinfo else window.end.replace(tzinfo=UTC))


class _Accumulator:
    """Counts every request, feeds the sinks, keeps the SAMPLE_SIZE slowest in a min-heap."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = list(sinks)
        self.count = 0
        self.heap: list[tuple[float, int, SlowRequest]] = []
        self.seq = itertools.count()
        self.missing: list[Missing] = []
        self.legacy_search = False  # a Search line without ConsistencyLevel: the 2.3/2.4 format
        self.modern_search = False
        self.per_nq_seen = False

    def add(self, req: SlowRequest) -> None:
        self.count += 1
        for sink in self.sinks:
            try:
                sink(req)
            except Exception as e:  # a broken sink must not cost the slow-log evidence
                log.exception("slow-log sink %r failed; it gets no more requests", sink)
                self.sinks = [s for s in self.sinks if s is not sink]
                self.missing.append(Missing(source="slowlog", what=f"slow-log consumer {_name(sink)}",
                                            reason=f"failed: {type(e).__name__}: {e}"))
        item = (req.duration_s, next(self.seq), req)
        if len(self.heap) < SAMPLE_SIZE:
            heapq.heappush(self.heap, item)
        elif item[0] > self.heap[0][0]:
            heapq.heapreplace(self.heap, item)
        if req.kind == "search" and req.fmt != "api":
            if req.consistency_level is None:
                self.legacy_search = True
            else:
                self.modern_search = True
        if req.duration_per_nq_s is not None:
            self.per_nq_seen = True

    def slowest(self) -> list[SlowRequest]:
        return [r for _, _, r in sorted(self.heap, key=lambda i: (-i[0], i[1]))]


def _name(sink: Sink) -> str:
    owner = getattr(sink, "__self__", None)
    if owner is not None:
        return f"{type(owner).__name__}.{getattr(sink, '__name__', 'sink')}"
    return getattr(sink, "__qualname__", repr(sink))
