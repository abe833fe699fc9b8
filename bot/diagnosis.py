"""The pipeline, once for every trigger: request -> evidence -> playbooks -> ranked findings -> Diagnosis.

The CLI (`milvus-triage slow`) and the Slack adapters call `diagnose()`; nothing else decides
what is wrong. `run_diagnosis()` also returns the rule-by-rule evaluation, for playbook tests and
"show evidence" views.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bot.config import AppConfig
from bot.models import Diagnosis, Evidence, Finding, TriageRequest
from bot.playbook import Evaluation, Playbooks, build_facts, evaluate_playbooks, load_playbooks


@dataclass
class DiagnosisRun:
    diagnosis: Diagnosis
    evaluation: Evaluation
    playbooks: Playbooks


def diagnose(request: TriageRequest, config: AppConfig, *, evidence: Evidence | None = None) -> Diagnosis:
    """request -> Diagnosis. Gathers evidence unless given; raises ConfigError for an unknown cluster
    or a cluster threshold override that names no threshold (before any source is queried)."""
    return run_diagnosis(request, config, evidence=evidence).diagnosis


def run_diagnosis(request: TriageRequest, config: AppConfig, *, evidence: Evidence | None = None,
                  playbooks: Playbooks | None = None, playbooks_dir: str | Path | None = None) -> DiagnosisRun:
    t0 = time.monotonic()
    cluster = config.cluster(request.cluster)
    pb = playbooks or load_playbooks(playbooks_dir)
    thresholds = pb.thresholds_for(cluster.thresholds, cluster=cluster.name)
    if evidence is None:
        from bot.evidence import gather_evidence

        evidence = gather_evidence(request, cluster)
    ctx = build_facts(evidence, pb, thresholds, request, fallback_version=cluster.milvus_version)
    ev = evaluate_playbooks(pb, ctx)
    top = _top(pb, ev.findings)
    not_checked = list(ev.not_checked) + [f"playbook error: {e}" for e in ev.errors]
    diagnosis = Diagnosis(
        request=request, evidence=evidence, findings=ev.findings, healthy=ev.healthy, not_checked=not_checked,
        verdict=_verdict(pb, cluster.name, ev.findings, top, evidence), top_cause=top.cause if top else None,
        elapsed_s=round(time.monotonic() - t0, 3),
    )
    return DiagnosisRun(diagnosis=diagnosis, evaluation=ev, playbooks=pb)


def _is_symptom(pb: Playbooks, f: Finding) -> bool:
    rule = pb.rule(f.rule_id)
    return bool(rule and rule.symptom)


def _top(pb: Playbooks, findings: list[Finding]) -> Finding | None:
    """The finding that names the cause: the highest-ranked one that is not only a symptom."""
    for f in findings:
        if not _is_symptom(pb, f):
            return f
    return None


def _verdict(pb: Playbooks, cluster: str, findings: list[Finding], top: Finding | None, evidence: Evidence) -> str:
    problems = [f for f in findings if f.severity in ("critical", "warning")]
    if top is not None and top.cause == "healthy" and not problems:
        return f"{cluster} looks healthy: {top.summary}"
    if problems:
        lead = top if top is not None and top.severity != "info" else problems[0]
        cause = pb.causes.get(lead.cause, {}).get("title", lead.cause)
        more = len(problems) - 1
        tail = f" (+{more} more finding{'s' if more != 1 else ''})" if more else ""
        if top is None:
            return f"{cluster}: {lead.title}; no cause found in the evidence{tail}"
        return f"{cluster}: {cause.lower()}: {lead.title}{tail}"
    has_metrics = any(sv.value is not None for sv in evidence.signals.values())
    if not has_metrics and evidence.slowlog is None and evidence.milvus is None:
        return f"{cluster}: could not diagnose: no evidence could be gathered"
    return f"{cluster}: no problem found in the evidence that could be checked"
