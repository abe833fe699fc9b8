"""The handoff's SQL: a handful of indexed GROUP BYs over one read transaction (one snapshot).

Each query ranges over `created_at` first, which every index used here leads with, so the cost
follows the rows inside the window (and the 7 days behind it), not the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from bot.store.schema import CollectionLatencyRow, DiagnosisRow, FindingRow, IncidentRow


@dataclass(slots=True)
class HandoffRows:
    causes: list[tuple[str, str | None, int]] = field(default_factory=list)  # cluster, top_cause, count
    incidents: list[IncidentRow] = field(default_factory=list)
    repeated: list[tuple[Any, ...]] = field(default_factory=list)
    slowest: list[tuple[Any, ...]] = field(default_factory=list)
    fix_diagnoses: dict[int, DiagnosisRow] = field(default_factory=dict)  # incident id -> its latest diagnosis


def fetch(conn: Session, since: datetime, until: datetime, cluster: str | None,
          repeat_days: int) -> HandoffRows:
    out = HandoffRows()
    d, f, c, i = DiagnosisRow, FindingRow, CollectionLatencyRow, IncidentRow

    q = (select(d.cluster, d.top_cause, func.count()).where(d.created_at >= since, d.created_at < until)
         .group_by(d.cluster, d.top_cause))
    if cluster:
        q = q.where(d.cluster == cluster)
    out.causes = [(r[0], r[1], int(r[2])) for r in conn.execute(q)]

    q2 = select(i).where(or_(
        and_(i.fired_at >= since, i.fired_at < until),
        and_(i.resolved_at >= since, i.resolved_at < until),
        and_(i.status == "open", i.fired_at < until),
    ))
    if cluster:
        q2 = q2.where(i.cluster == cluster)
    out.incidents = list(conn.scalars(q2.order_by(i.fired_at)))

    # Counted over the index alone (created_at, cluster, rule_id, collection); titles come from the
    # window's rows only, which are few.
    week_start = until - timedelta(days=repeat_days)
    in_window = func.sum(case((f.created_at >= since, 1), else_=0))
    q3 = (select(f.cluster, f.rule_id, f.collection,
                 func.sum(case((f.created_at >= week_start, 1), else_=0)), in_window, func.max(f.created_at))
          .where(f.created_at >= min(since, week_start), f.created_at < until)
          .group_by(f.cluster, f.rule_id, f.collection).having(in_window > 0))
    titles = (select(f.cluster, f.rule_id, f.collection, func.max(f.title))
              .where(f.created_at >= since, f.created_at < until).group_by(f.cluster, f.rule_id, f.collection))
    if cluster:
        q3 = q3.where(f.cluster == cluster)
        titles = titles.where(f.cluster == cluster)
    title_of = {(r[0], r[1], r[2]): r[3] for r in conn.execute(titles)}
    out.repeated = [(*r, title_of.get((r[0], r[1], r[2]), r[1])) for r in conn.execute(q3)]

    q4 = (select(c.cluster, c.collection, func.max(c.max_ms), func.sum(c.slow_count), func.count())
          .where(c.created_at >= since, c.created_at < until).group_by(c.cluster, c.collection))
    if cluster:
        q4 = q4.where(c.cluster == cluster)
    out.slowest = [tuple(r) for r in conn.execute(q4)]

    still_open = [x for x in out.incidents if open_at(x, until)]
    # A "still:" incident carries the diagnosis id of the one that started the cooldown.
    own = {x.id: x.diagnosis_id for x in still_open if x.diagnosis_id}
    if own:
        rows = conn.execute(select(d).where(d.id.in_(sorted(set(own.values()))))).scalars().all()
        by_id = {r.id: r for r in rows}
        out.fix_diagnoses = {inc: by_id[did] for inc, did in own.items() if did in by_id}
    return out


def open_at(x: IncidentRow, until: datetime) -> bool:
    if x.status == "expired" or x.fired_at >= until:
        return False
    return x.resolved_at is None or x.resolved_at >= until
