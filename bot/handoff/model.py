"""What a handoff says: per cluster, what fired, resolved and is still open, and what keeps coming back.

Lists are complete here (the JSON output has everything); the renderers cap them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

REPEAT_DAYS = 7


class IncidentItem(BaseModel):
    id: int
    cluster: str
    alertname: str
    status: str  # open / resolved / expired
    fired_at: datetime
    resolved_at: datetime | None = None
    duration_s: float  # to resolution, or to the end of the handoff window when still open
    last_finding: str | None = None
    channel: str | None = None
    thread_ts: str | None = None


class CauseCount(BaseModel):
    cause: str  # "healthy" when a diagnosis found nothing to fix
    count: int


class RepeatedFinding(BaseModel):
    rule_id: str
    collection: str | None = None
    title: str
    count: int  # diagnoses with this rule on this collection over the REPEAT_DAYS before `until`
    in_window: int  # of which inside the handoff window
    last_seen: datetime


class OpenFix(BaseModel):
    incident_id: int
    alertname: str
    finding: str
    steps: list[str] = Field(default_factory=list)


class SlowCollection(BaseModel):
    collection: str
    max_ms: float
    slow_count: int
    diagnoses: int


class ClusterHandoff(BaseModel):
    cluster: str
    diagnoses: int = 0
    fired: list[IncidentItem] = Field(default_factory=list)
    resolved: list[IncidentItem] = Field(default_factory=list)
    open: list[IncidentItem] = Field(default_factory=list)
    top_causes: list[CauseCount] = Field(default_factory=list)
    repeated: list[RepeatedFinding] = Field(default_factory=list)
    open_fixes: list[OpenFix] = Field(default_factory=list)
    slowest: list[SlowCollection] = Field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return not (self.diagnoses or self.fired or self.resolved or self.open)


class Handoff(BaseModel):
    since: datetime
    until: datetime
    generated_at: datetime
    timezone: str = "UTC"
    max_items: int = 5
    repeat_days: int = REPEAT_DAYS
    clusters: list[ClusterHandoff] = Field(default_factory=list)
    query_ms: float = 0.0

    @property
    def totals(self) -> dict[str, int]:
        return {
            "diagnoses": sum(c.diagnoses for c in self.clusters),
            "fired": sum(len(c.fired) for c in self.clusters),
            "resolved": sum(len(c.resolved) for c in self.clusters),
            "open": sum(len(c.open) for c in self.clusters),
        }
