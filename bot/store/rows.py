"""Turn a Diagnosis into the rows the store keeps: the diagnosis, its findings, its per-collection latencies."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.escape import truncate
from bot.models import Diagnosis, Finding

# Kept per finding in diagnoses.findings; evidence lines and code stay out (the thread has them).
_FINDING_FIELDS = ("rule_id", "cause", "title", "severity", "summary", "fix_steps", "collection", "strength")
MAX_FIX_STEPS = 10


@dataclass(slots=True)
class DiagnosisRows:
    diagnosis: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)
    collections: list[dict[str, Any]] = field(default_factory=list)


def finding_label(f: Finding | dict[str, Any]) -> str:
    """'OR chain on my_repos': the title, with the collection when it is not already named."""
    title = f.title if isinstance(f, Finding) else str(f.get("title") or f.get("rule_id") or "")
    coll = f.collection if isinstance(f, Finding) else f.get("collection")
    if coll and coll not in title:
        return f"{title} ({coll})"
    return title


def diagnosis_rows(diagnosis: Diagnosis, created_at: datetime, *, channel: str | None = None,
                   thread_ts: str | None = None, permalink: str | None = None,
                   incident_id: int | None = None) -> DiagnosisRows:
    req = diagnosis.request
    findings = diagnosis.findings
    top = findings[0] if findings else None
    stored_findings = []
    for f in findings:
        d = {k: getattr(f, k) for k in _FINDING_FIELDS}
        d["title"] = truncate(d["title"], 500)
        d["summary"] = truncate(d["summary"], 1000)
        d["fix_steps"] = [truncate(s, 1000) for s in d["fix_steps"][:MAX_FIX_STEPS]]
        stored_findings.append(d)
    row = {
        "created_at": created_at,
        "cluster": req.cluster,
        "trigger": req.trigger,
        "collection": req.collection,
        "window_start": req.window.start,
        "window_end": req.window.end,
        "findings": stored_findings,
        "top_cause": diagnosis.top_cause or (top.cause if top else None),
        "top_rule_id": top.rule_id if top else None,
        "top_finding": truncate(finding_label(top), 500) if top else None,
        "verdict": diagnosis.verdict,
        "healthy": diagnosis.is_healthy,
        "requested_by": req.requested_by,
        "channel": channel or req.reply_to.get("channel"),
        "thread_ts": thread_ts or req.reply_to.get("thread_ts"),
        "permalink": permalink,
        "incident_id": incident_id,
        "elapsed_s": diagnosis.elapsed_s,
    }
    seen: set[tuple[str, str]] = set()
    finding_rows = []
    for f in findings:
        key = (f.rule_id, f.collection or "")
        if key in seen:  # one count per diagnosis for "3rd time this week"
            continue
        seen.add(key)
        finding_rows.append({"created_at": created_at, "cluster": req.cluster, "rule_id": f.rule_id,
                             "collection": f.collection or "", "cause": f.cause, "severity": f.severity,
                             "title": truncate(f.title, 500)})
    return DiagnosisRows(row, finding_rows, _collection_rows(diagnosis, created_at))


def _collection_rows(diagnosis: Diagnosis, created_at: datetime) -> list[dict[str, Any]]:
    """Per collection: slow requests seen, worst and p95 latency (ms), from the digest or the sample."""
    slowlog = diagnosis.evidence.slowlog
    if slowlog is None:
        return []
    stats: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "max_s": 0.0, "p95_s": 0.0})
    digest = slowlog.digest
    shapes = list(getattr(digest, "shapes", None) or [])
    if shapes:
        for s in shapes:
            if not s.collection:
                continue
            st = stats[s.collection]
            st["count"] += s.count
            st["max_s"] = max(st["max_s"], s.max_s)
            st["p95_s"] = max(st["p95_s"], s.p95_s)
    else:
        by_coll: dict[str, list[float]] = defaultdict(list)
        for r in slowlog.requests:
            if r.collection:
                by_coll[r.collection].append(r.duration_s)
        for name, durations in by_coll.items():
            durations.sort()
            stats[name] = {"count": len(durations), "max_s": durations[-1],
                           "p95_s": durations[min(len(durations) - 1, int(0.95 * len(durations)))]}
    return [{"created_at": created_at, "cluster": diagnosis.request.cluster, "collection": truncate(name, 255),
             "slow_count": int(st["count"]), "max_ms": st["max_s"] * 1000.0, "p95_ms": st["p95_s"] * 1000.0}
            for name, st in stats.items()]
