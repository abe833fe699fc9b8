"""Gather the evidence for one request: metrics, slow log and Milvus facts, concurrently.

Each source has its own timeout and never raises: what it could not gather becomes a `Missing`
entry, so a dead Prometheus still yields a reply that says which evidence is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

from bot.config import ClusterConfig
from bot.models import Evidence, Missing, TriageRequest

log = logging.getLogger(__name__)

# Slack acks within 3 s and replies later; the whole gather must still end in bounded time.
DEFAULT_SOURCE_BUDGET_S = 60.0


def gather_evidence(request: TriageRequest, cluster: ClusterConfig,
                    budget_s: float = DEFAULT_SOURCE_BUDGET_S) -> Evidence:
    """request -> Evidence. The three sources run at once; each failure is recorded, not raised."""
    from bot.digest import DigestBuilder
    from bot.evidence.metrics import collect_signals
    from bot.evidence.milvus import collect_milvus
    from bot.slowlog.collect import collect_slowlog

    window, collection = request.window, request.collection
    digest = DigestBuilder()
    jobs: dict[str, Callable[[], Any]] = {
        "metrics": lambda: collect_signals(cluster, window, collection),
        "slowlog": lambda: collect_slowlog(cluster, window, collection, sinks=[digest.add]),
        "milvus": lambda: collect_milvus(cluster, collection),
    }
    evidence = Evidence(cluster=cluster.name, window=window, collection=collection,
                        gathered_at=datetime.now(UTC))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="evidence") as pool:
        futures = {name: pool.submit(_timed, fn) for name, fn in jobs.items()}
        for name, fut in futures.items():
            remaining = max(0.1, budget_s - (time.monotonic() - started))
            try:
                result, seconds = fut.result(timeout=remaining)
            except FutureTimeout:
                evidence.missing.append(Missing(source=name, what=name, reason=f"timed out after {budget_s:.0f}s"))
                continue
            except Exception as e:  # a source bug must not cost the whole reply
                log.exception("evidence source %s failed", name)
                evidence.missing.append(Missing(source=name, what=name, reason=f"failed: {type(e).__name__}: {e}"))
                continue
            evidence.source_seconds[name] = round(seconds, 3)
            _merge(evidence, name, result)
    if evidence.slowlog is not None:
        evidence.slowlog.digest = digest.finish(milvus=evidence.milvus)
    evidence.milvus_version = _best_version(evidence, cluster)
    return evidence


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    return fn(), time.monotonic() - t0


def _merge(evidence: Evidence, name: str, result: Any) -> None:
    if name == "metrics":
        signals, missing = result
        evidence.signals.update(signals)
    elif name == "slowlog":
        evidence.slowlog, missing = result
    else:
        evidence.milvus, missing = result
    evidence.missing.extend(missing)


def _best_version(evidence: Evidence, cluster: ClusterConfig) -> str | None:
    """milvus_build_info from Prometheus, then pymilvus's get_server_version, then the config."""
    from bot.playbook.versions import parse_version

    build = evidence.signals.get("build_version")
    candidates = [
        build.variant if build is not None and build.value is not None else None,
        # Milvus Lite reports its package version ("milvus_lite-3.2.2"), which names no Milvus
        # release: parse_version refuses it, so the configured version wins over it.
        evidence.milvus.server_version if evidence.milvus is not None else None,
        cluster.milvus_version,
    ]
    for version in candidates:
        if version and parse_version(version) is not None:
            return version
    return next((v for v in candidates if v), None)
