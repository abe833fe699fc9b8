"""Diagnosis objects built by hand, for rendering tests (the pipeline tests run the real diagnose)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from bot.models import (
    Diagnosis,
    Evidence,
    Finding,
    Missing,
    SignalValue,
    SlowLogEvidence,
    SlowRequest,
    TimeWindow,
    TriageRequest,
)

END = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def _series(start: datetime, minutes: int, base: float, bump: float, phase: float = 0.0) -> list[tuple[float, float]]:
    out = []
    for i in range(minutes + 1):
        t = start + timedelta(minutes=i)
        spike = bump * max(0.0, math.sin((i / minutes) * math.pi + phase))
        out.append((t.timestamp(), base + spike))
    return out


def make_signal(name: str, title: str, value: float, baseline: float, window: TimeWindow,
                query: str | None = None) -> SignalValue:
    minutes = int(window.seconds // 60)
    return SignalValue(
        name=name, title=title, unit="ms", value=value, baseline=baseline,
        query=query or f'histogram_quantile(0.99, sum by (le) (rate({name}_bucket{{namespace="milvus"}}[5m])))',
        series=_series(window.start, minutes, baseline, value - baseline),
        baseline_series=_series(window.baseline().start, minutes, baseline * 0.9, baseline * 0.2))


def make_diagnosis(cluster: str = "prod-eu", findings: int = 2, filter_text: str = 'user == "<!channel>"',
                   fix_steps: int = 3, evidence_lines: int = 3, window_minutes: int = 30,
                   collection: str | None = "my_repos") -> Diagnosis:
    window = TimeWindow(start=END - timedelta(minutes=window_minutes), end=END)
    req = TriageRequest(cluster=cluster, collection=collection, window=window, trigger="slash_command",
                        requested_by="U0ALICE01", reply_to={"channel": "C0PRODEU1"})
    signals = {
        "proxy_search_p99": make_signal("proxy_search_p99", "proxy search p99", 6400, 180, window),
        "queue_p99": make_signal("queue_p99", "queue p99", 5200, 20, window),
        "segment_p99": make_signal("segment_p99", "segment p99", 900, 120, window),
        "core_p99": make_signal("core_p99", "segcore p99", 850, 100, window),
        "reduce_p99": make_signal("reduce_p99", "reduce p99", 12, 8, window),
        "wait_tsafe_p99": make_signal("wait_tsafe_p99", "wait tSafe p99", 3, 2, window),
    }
    requests = [SlowRequest(kind="search", duration_s=5 + i, time=END - timedelta(minutes=3 + i), collection="my_repos",
                            dsl=filter_text, nq=8192, topk=10,
                            raw=f'[...] ["Search slow"] [collection=my_repos] [dsl="{filter_text}"] [nq=8192]')
                for i in range(8)]
    slowlog = SlowLogEvidence(source="files:/var/log/milvus/*.log", lines_read=1000, slow_lines=8, requests=requests)
    ev = Evidence(cluster=cluster, window=window, collection=collection, gathered_at=END, milvus_version="2.5.14",
                  signals=signals, slowlog=slowlog,
                  missing=[Missing(source="milvus", what="Milvus", reason="no uri configured")])
    fs = [Finding(
        rule_id=f"heavy_nq_{i}", cause="heavy_workload", severity="critical" if i == 0 else "warning",
        title=f"Requests with NQ=8192 fill the query-node queue ({i})",
        summary=f"queue p99 5,200 ms vs 20 ms a day ago (260x); filter {filter_text}",
        evidence=[f"evidence line {j}: {filter_text}" for j in range(evidence_lines)],
        fix_steps=[f"step {j}: split the batch into NQ <= 100 requests" for j in range(fix_steps)],
        code=[f'client.search("my_repos", data=vectors[:100], filter=\'{filter_text}\')'],
        strength=0.9 - i * 0.1, collection="my_repos", signals=["queue_p99"])
        for i in range(findings)]
    return Diagnosis(request=req, evidence=ev, findings=fs, healthy=["reduce p99 12 ms: normal"],
                     not_checked=["Milvus: no uri configured"], verdict=f"{cluster}: heavy NQ saturates the queue",
                     top_cause="heavy_workload", elapsed_s=3.2)
