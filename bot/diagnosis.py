"""The pipeline (placeholder until the playbooks issue lands): request -> evidence -> findings -> Diagnosis."""

from __future__ import annotations

import time

from bot.config import AppConfig
from bot.evidence import gather_evidence
from bot.models import Diagnosis, TriageRequest


def diagnose(request: TriageRequest, config: AppConfig) -> Diagnosis:
    t0 = time.monotonic()
    cluster = config.cluster(request.cluster)
    evidence = gather_evidence(request, cluster)
    return Diagnosis(request=request, evidence=evidence, verdict=f"{cluster.name}: no playbooks yet",
                     not_checked=[f"{m.what}: {m.reason}" for m in evidence.missing],
                     elapsed_s=time.monotonic() - t0)
