"""Build a Handoff from the store: per cluster, incidents, causes, repeated findings, open fixes, slow collections."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import AppConfig
from bot.handoff.model import (
    REPEAT_DAYS,
    CauseCount,
    ClusterHandoff,
    Handoff,
    IncidentItem,
    OpenFix,
    RepeatedFinding,
    SlowCollection,
)
from bot.handoff.query import fetch, open_at
from bot.store.rows import finding_label
from bot.store.schema import IncidentRow

_ACTIONABLE = ("critical", "warning")


class HandoffError(ValueError):
    """A handoff that cannot be built as asked (bad window, unknown cluster)."""


def build_handoff(store: Any, config: AppConfig, since: datetime, until: datetime | None = None,
                  cluster: str | None = None, now: datetime | None = None) -> Handoff:
    """The handoff for [since, until) (until defaults to now), for every cluster or just `cluster`."""
    now = now or datetime.now(UTC)
    until = until or now
    if since.tzinfo is None or until.tzinfo is None:
        raise HandoffError("since/until must carry a time zone")
    if since >= until:
        raise HandoffError(f"the handoff window is empty: since {since:%Y-%m-%d %H:%M} is not before "
                           f"until {until:%Y-%m-%d %H:%M}")
    if cluster is not None:
        config.cluster(cluster)  # UnknownClusterError lists the known ones
    t0 = time.perf_counter()
    with Session(store.read_engine, expire_on_commit=False) as session, session.begin():  # one snapshot
        rows = fetch(session, since, until, cluster, REPEAT_DAYS)
    query_ms = (time.perf_counter() - t0) * 1000.0

    names = [cluster] if cluster else list(config.cluster_names)
    per: dict[str, ClusterHandoff] = {n: ClusterHandoff(cluster=n) for n in names}

    def get(name: str) -> ClusterHandoff:
        return per.setdefault(name, ClusterHandoff(cluster=name))

    causes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name, cause, n in rows.causes:
        get(name).diagnoses += n
        causes[name][cause or "healthy"] += n
    for name, counts in causes.items():
        get(name).top_causes = [CauseCount(cause=k, count=v)
                                for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    for inc in rows.incidents:
        item = _item(inc, until)
        ch = get(inc.cluster)
        if since <= inc.fired_at < until:
            ch.fired.append(item)
        if inc.resolved_at is not None and since <= inc.resolved_at < until:
            ch.resolved.append(item)
        if open_at(inc, until):
            ch.open.append(item)
            diag = rows.fix_diagnoses.get(inc.id)
            if diag is not None:
                for f in diag.findings:
                    if f.get("severity") in _ACTIONABLE and f.get("fix_steps"):
                        ch.open_fixes.append(OpenFix(incident_id=inc.id, alertname=inc.alertname,
                                                     finding=finding_label(f), steps=list(f["fix_steps"])))

    for name, rule_id, coll, count, in_window, last_seen, title in rows.repeated:
        if int(count) >= 2:
            get(name).repeated.append(RepeatedFinding(
                rule_id=rule_id, collection=coll or None, title=finding_label({"title": title, "collection": coll}),
                count=int(count), in_window=int(in_window), last_seen=last_seen))
    for ch in per.values():
        ch.repeated.sort(key=lambda r: (-r.count, r.rule_id, r.collection or ""))
        ch.open.sort(key=lambda x: x.fired_at)
        ch.resolved.sort(key=lambda x: x.resolved_at or x.fired_at)

    for name, coll, max_ms, slow_count, n in rows.slowest:
        get(name).slowest.append(SlowCollection(collection=coll, max_ms=float(max_ms), slow_count=int(slow_count or 0),
                                                diagnoses=int(n)))
    for ch in per.values():
        ch.slowest.sort(key=lambda s: (-s.max_ms, s.collection))

    ordered = sorted(per.values(), key=lambda c: (c.quiet, c.cluster))
    return Handoff(since=since, until=until, generated_at=now, timezone=config.handoff.timezone,
                   max_items=config.handoff.max_items, clusters=ordered, query_ms=round(query_ms, 2))


def _item(inc: IncidentRow, until: datetime) -> IncidentItem:
    end = inc.resolved_at if inc.resolved_at is not None and inc.resolved_at < until else until
    return IncidentItem(id=inc.id, cluster=inc.cluster, alertname=inc.alertname, status=inc.status,
                        fired_at=inc.fired_at, resolved_at=inc.resolved_at,
                        duration_s=max(0.0, (end - inc.fired_at).total_seconds()), last_finding=inc.last_finding,
                        channel=inc.channel, thread_ts=inc.thread_ts)
