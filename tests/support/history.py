"""A deterministic synthetic diagnosis history, for the handoff tests and bench/handoff.py.

Diagnoses are built with `model_construct` (no validation) because the benchmark makes 100,000
of them; the values are well-typed by construction.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from bot.models import Diagnosis, Evidence, Finding, SlowLogEvidence, SlowRequest, TimeWindow, TriageRequest

CLUSTERS = ["prod-eu", "prod-us", "staging"]
COLLECTIONS = ["my_repos", "docs", "images", "users"]
# rule_id, cause, severity, title template, fix steps
RULES = [
    ("or_chain_filter", "inefficient_filtering", "warning", "OR chain on {c}",
     ["Rewrite the OR chain on `{c}` as `field in [...]`", "Add an INVERTED index on the filtered field"]),
    ("heavy_nq", "heavy_workload", "critical", "One request with NQ=8192 dominates the query node",
     ["Split the batch into requests of NQ <= 100", "Add query nodes"]),
    ("unindexed_scalar", "inefficient_filtering", "warning", "Filter on unindexed field of {c}",
     ["Create a scalar index on the filtered field of `{c}`"]),
    ("growing_segments", "vector_index", "warning", "Growing segments searched brute force in {c}",
     ["Flush `{c}` after bulk inserts"]),
    ("strong_consistency", "runtime_environment", "info", "Strong consistency waits for tSafe",
     ["Use Bounded consistency for searches"]),
]
TRIGGERS = ["slash_command", "mention", "alert", "alertmanager", "cli"]


def make_diagnosis(cluster: str, created_at: datetime, findings: list[tuple[str, str | None]],
                   slow: dict[str, list[float]] | None = None, trigger: str = "slash_command",
                   requested_by: str | None = "U123", window: timedelta = timedelta(minutes=30)) -> Diagnosis:
    """findings: (rule_id, collection) pairs from RULES; slow: collection -> slow request durations (s)."""
    tw = TimeWindow.model_construct(start=created_at - window, end=created_at)
    req = TriageRequest.model_construct(cluster=cluster, collection=None, window=tw, trigger=trigger,
                                        requested_by=requested_by, reply_to={})
    slowlog = None
    if slow:
        reqs = [SlowRequest(kind="search", duration_s=d, collection=c) for c, ds in slow.items() for d in ds]
        slowlog = SlowLogEvidence.model_construct(source="files:test", lines_read=0, slow_lines=len(reqs),
                                                  malformed=0, malformed_samples=[], requests=reqs,
                                                  truncated=False, digest=None, threshold_s=None)
    ev = Evidence.model_construct(cluster=cluster, window=tw, collection=None, gathered_at=created_at,
                                  milvus_version=None, signals={}, slowlog=slowlog, milvus=None, missing=[],
                                  source_seconds={})
    rules = {r[0]: r for r in RULES}
    out = []
    for rule_id, coll in findings:
        _, cause, severity, title, steps = rules[rule_id]
        c = coll or ""
        out.append(Finding.model_construct(
            rule_id=rule_id, cause=cause, title=title.format(c=c), severity=severity,
            summary=f"{rule_id} on {c or cluster}", evidence=[], fix_steps=[s.format(c=c) for s in steps], code=[],
            links=[], strength=0.5, collection=coll, signals=[]))
    verdict = f"{out[0].title} on {cluster}" if out else f"{cluster} looks healthy"
    return Diagnosis.model_construct(request=req, evidence=ev, findings=out, healthy=[], not_checked=[],
                                     verdict=verdict, top_cause=out[0].cause if out else None, elapsed_s=1.5)


def synthetic_history(n: int, until: datetime, days: int = 30, seed: int = 42) -> Iterator[tuple[Diagnosis, datetime]]:
    """n (diagnosis, created_at) pairs spread over the `days` before `until`."""
    rnd = random.Random(seed)
    span = days * 86400
    for _ in range(n):
        created = until - timedelta(seconds=rnd.randrange(1, span))
        cluster = rnd.choice(CLUSTERS)
        k = rnd.choices([0, 1, 2, 3], weights=[3, 4, 2, 1])[0]
        picked = rnd.sample(RULES, k)
        findings = [(r[0], rnd.choice(COLLECTIONS) if "{c}" in r[3] else None) for r in picked]
        slow = {c: [round(rnd.uniform(0.5, 12.0), 3) for _ in range(rnd.randint(1, 4))]
                for c in rnd.sample(COLLECTIONS, rnd.randint(0, 2))}
        yield make_diagnosis(cluster, created, findings, slow, trigger=rnd.choice(TRIGGERS)), created
