"""The history store: diagnoses, incidents and the insert-if-absent keys that make replies exactly-once.

Every "only one replica may do this" decision is a single statement the database arbitrates:
INSERT ... ON CONFLICT DO NOTHING (dialect inserts for SQLite and PostgreSQL) or a conditional
UPDATE whose rowcount says who won. Nothing of the kind is kept in process memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import Diagnosis
from bot.store.engine import make_engines, redact, resolve_url
from bot.store.migrate import upgrade_to_head
from bot.store.rows import DiagnosisRows, diagnosis_rows
from bot.store.schema import (
    CollectionLatencyRow,
    CooldownRow,
    DedupKeyRow,
    DiagnosisRow,
    FindingRow,
    HandoffSlotRow,
    IncidentRow,
    utcnow,
)

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEY_RETENTION = timedelta(days=30)


@dataclass(slots=True)
class NewIncident:
    """What the alert side knows when a firing arrives."""

    ident: str  # cluster + alert group: the same for every notification of the group
    firing_key: str  # ident + the firing's start (or the Slack message when the start is unknown)
    cluster: str
    alertname: str
    fired_at: datetime
    source: str
    channel: str | None = None
    thread_ts: str | None = None
    group_key: str | None = None
    fingerprint: str | None = None
    summary: str | None = None
    starts_known: bool = False  # fired_at is the alert's startsAt, not when a message was seen


class Store:
    def __init__(self, url: str, write_engine: Engine, read_engine: Engine) -> None:
        self.url = redact(url)
        self._write_engine = write_engine
        self._read_engine = read_engine
        self.dialect = write_engine.dialect.name

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._read_engine, expire_on_commit=False) as s, s.begin():
            yield s

    @property
    def read_engine(self) -> Engine:
        return self._read_engine

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table))

    def _insert_ignore(self, s: Session, table: Table, values: dict[str, Any], index_elements: list[str]) -> bool:
        # RETURNING yields a row only when the insert happened (rowcount is not reliable for INSERT).
        stmt = (self._insert(table).values(**values).on_conflict_do_nothing(index_elements=index_elements)
                .returning(table.c[index_elements[0]]))
        return s.execute(stmt).first() is not None

    def close(self) -> None:
        self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            self._read_engine.dispose()

    # ------------------------------------------------------------------ insert-if-absent keys

    def claim(self, key: str, now: datetime | None = None) -> bool:
        """True for the one caller (in any process) that inserts `key` first."""
        with self._write() as s:
            return self._insert_ignore(s, DedupKeyRow.__table__, {"key": key, "created_at": now or utcnow()},
                                       ["key"])

    def claim_event(self, key: str) -> bool:
        """Slack Events API retry filter (used by bot.slack.dedup)."""
        return self.claim(f"event:{key}")

    def prune_keys(self, older_than: datetime) -> int:
        with self._write() as s:
            return s.execute(delete(DedupKeyRow).where(DedupKeyRow.created_at < older_than)).rowcount or 0

    # ------------------------------------------------------------------ diagnoses

    def record_diagnosis(self, diagnosis: Diagnosis, channel: str | None = None, thread_ts: str | None = None,
                         permalink: str | None = None, *, incident_id: int | None = None,
                         created_at: datetime | None = None, last_finding: str | None = None) -> int:
        """Store one diagnosis; with `incident_id`, also link it to the incident. Returns its id."""
        rows = diagnosis_rows(diagnosis, created_at or utcnow(), channel=channel, thread_ts=thread_ts,
                              permalink=permalink, incident_id=incident_id)
        with self._write() as s:
            diag_id = self._insert_rows(s, rows)
            if incident_id is not None:
                s.execute(update(IncidentRow).where(IncidentRow.id == incident_id).values(
                    diagnosis_id=diag_id, mode="full", updated_at=utcnow(),
                    last_finding=last_finding or rows.diagnosis["top_finding"] or rows.diagnosis["verdict"]))
        return diag_id

    def record_diagnoses(self, items: Iterable[tuple[Diagnosis, datetime]], batch: int = 2000) -> int:
        """Bulk insert (seeding, imports, benchmarks): (diagnosis, created_at) pairs. Returns the count."""
        n = 0
        pending: list[DiagnosisRows] = []
        for diagnosis, created_at in items:
            pending.append(diagnosis_rows(diagnosis, created_at))
            if len(pending) >= batch:
                n += self._insert_many(pending)
                pending = []
        if pending:
            n += self._insert_many(pending)
        return n

    def _insert_rows(self, s: Session, rows: DiagnosisRows) -> int:
        diag_id = s.execute(insert(DiagnosisRow).values(**rows.diagnosis).returning(DiagnosisRow.id)).scalar_one()
        if rows.findings:
            s.execute(insert(FindingRow), [dict(r, diagnosis_id=diag_id) for r in rows.findings])
        if rows.collections:
            s.execute(insert(CollectionLatencyRow), [dict(r, diagnosis_id=diag_id) for r in rows.collections])
        return diag_id

    def _insert_many(self, many: list[DiagnosisRows]) -> int:
        # Core executemany with ids reserved up front: RETURNING per row made bulk loads ~10x slower.
        with self._write() as s:
            ids = self._reserve_ids(s, len(many))
            conn = s.connection()
            conn.execute(DiagnosisRow.__table__.insert(),
                         [dict(r.diagnosis, id=i) for i, r in zip(ids, many, strict=True)])
            findings = [dict(f, diagnosis_id=i) for i, r in zip(ids, many, strict=True) for f in r.findings]
            colls = [dict(c, diagnosis_id=i) for i, r in zip(ids, many, strict=True) for c in r.collections]
            if findings:
                conn.execute(FindingRow.__table__.insert(), findings)
            if colls:
                conn.execute(CollectionLatencyRow.__table__.insert(), colls)
        return len(ids)

    def _reserve_ids(self, s: Session, n: int) -> list[int]:
        if self.dialect == "postgresql":
            return list(s.execute(text("SELECT nextval(pg_get_serial_sequence('diagnoses', 'id')) "
                                       "FROM generate_series(1, :n)"), {"n": n}).scalars())
        # SQLite: the write transaction is BEGIN IMMEDIATE, so nobody else can take these ids meanwhile.
        top = s.execute(select(func.coalesce(func.max(DiagnosisRow.id), 0))).scalar_one()
        return list(range(top + 1, top + 1 + n))

    def get_diagnosis(self, diagnosis_id: int) -> DiagnosisRow | None:
        with self._read() as s:
            return s.get(DiagnosisRow, diagnosis_id)

    def diagnoses_by_id(self, ids: Iterable[int]) -> dict[int, DiagnosisRow]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self._read() as s:
            return {d.id: d for d in s.scalars(select(DiagnosisRow).where(DiagnosisRow.id.in_(wanted)))}

    def count_diagnoses(self, cluster: str | None = None) -> int:
        stmt = select(func.count()).select_from(DiagnosisRow)
        if cluster:
            stmt = stmt.where(DiagnosisRow.cluster == cluster)
        with self._read() as s:
            return int(s.execute(stmt).scalar_one())

    # ------------------------------------------------------------------ incidents

    def open_incident(self, new: NewIncident, *, max_age_s: float = 86400.0,
                      now: datetime | None = None) -> tuple[IncidentRow | None, bool]:
        """Open the incident for this firing unless this firing (or its group's open incident) exists.

        Returns (incident, created). `created` is True for exactly one caller per firing, across
        retries, duplicate notifications, the webhook and the channel message, and replicas.
        """
        now = now or utcnow()
        with self._write() as s:
            if not self._insert_ignore(s, DedupKeyRow.__table__, {"key": new.firing_key, "created_at": now},
                                       ["key"]):
                return self._open_for(s, new.ident), False
            current = self._open_for(s, new.ident)
            if current is not None and (now - current.fired_at).total_seconds() > max_age_s:
                # Its resolve notice never came; let this firing start a new incident.
                s.execute(update(IncidentRow).where(IncidentRow.id == current.id).values(
                    status="expired", open_key=None, updated_at=now))
                current = None
            values = {
                "ident": new.ident, "open_key": new.ident, "firing_key": new.firing_key, "cluster": new.cluster,
                "alertname": new.alertname, "group_key": new.group_key, "fingerprint": new.fingerprint,
                "source": new.source, "status": "open", "fired_at": new.fired_at, "channel": new.channel,
                "thread_ts": new.thread_ts, "summary": new.summary, "created_at": now, "updated_at": now,
            }
            stmt = (self._insert(IncidentRow.__table__).values(**values)
                    .on_conflict_do_nothing(index_elements=["open_key"]).returning(IncidentRow.__table__.c.id))
            new_id = s.execute(stmt).scalar_one_or_none()
            if new_id is None:
                current = current or self._open_for(s, new.ident)
                if current is not None and new.starts_known and new.fired_at < current.fired_at:
                    # Opened from a template without startsAt; this route knows the real start.
                    s.execute(update(IncidentRow).where(IncidentRow.id == current.id).values(
                        fired_at=new.fired_at, updated_at=now))
                return current, False
            return s.get(IncidentRow, new_id), True

    def _open_for(self, s: Session, ident: str) -> IncidentRow | None:
        return s.scalars(select(IncidentRow).where(IncidentRow.open_key == ident)).first()

    def get_incident(self, incident_id: int) -> IncidentRow | None:
        with self._read() as s:
            return s.get(IncidentRow, incident_id)

    def open_incident_for(self, ident: str) -> IncidentRow | None:
        with self._read() as s:
            return self._open_for(s, ident)

    def incident_by_thread(self, channel: str, thread_ts: str) -> IncidentRow | None:
        with self._read() as s:
            return s.scalars(select(IncidentRow).where(IncidentRow.channel == channel,
                                                       IncidentRow.thread_ts == thread_ts)
                             .order_by(IncidentRow.id.desc())).first()

    def previous_thread(self, ident: str, exclude_id: int | None = None) -> tuple[str, str] | None:
        """The thread of the latest earlier incident of the same group, so later firings land there too."""
        stmt = (select(IncidentRow.channel, IncidentRow.thread_ts)
                .where(IncidentRow.ident == ident, IncidentRow.thread_ts.is_not(None))
                .order_by(IncidentRow.fired_at.desc(), IncidentRow.id.desc()).limit(1))
        if exclude_id is not None:
            stmt = stmt.where(IncidentRow.id != exclude_id)
        with self._read() as s:
            row = s.execute(stmt).first()
        return (row[0], row[1]) if row and row[0] else None

    def set_incident_thread(self, incident_id: int, channel: str, thread_ts: str) -> None:
        with self._write() as s:
            s.execute(update(IncidentRow).where(IncidentRow.id == incident_id).values(
                channel=channel, thread_ts=thread_ts, updated_at=utcnow()))

    def set_incident_outcome(self, incident_id: int, *, mode: str, last_finding: str | None,
                             diagnosis_id: int | None = None) -> None:
        """mode: still (cooldown; `diagnosis_id` is the diagnosis that stands for it), failed, none."""
        with self._write() as s:
            s.execute(update(IncidentRow).where(IncidentRow.id == incident_id).values(
                mode=mode, last_finding=last_finding, diagnosis_id=diagnosis_id, updated_at=utcnow()))

    def resolve_incident(self, *, ident: str | None = None, incident_id: int | None = None,
                         resolved_at: datetime | None = None) -> IncidentRow | None:
        """Close the open incident; returns it to the one caller whose UPDATE won, else None."""
        resolved_at = resolved_at or utcnow()
        with self._write() as s:
            if incident_id is None:
                current = self._open_for(s, ident or "")
                if current is None:
                    return None
                incident_id = current.id
            res = s.execute(update(IncidentRow).where(IncidentRow.id == incident_id,
                                                      IncidentRow.status == "open").values(
                status="resolved", open_key=None, resolved_at=resolved_at, updated_at=utcnow()))
            if res.rowcount != 1:
                return None
            incident = s.get(IncidentRow, incident_id)
            if incident is not None:
                s.refresh(incident)
            return incident

    # ------------------------------------------------------------------ per-cluster cooldown

    def claim_cooldown(self, cluster: str, incident_id: int, cooldown_s: float,
                       now: datetime | None = None) -> bool:
        """True when no full diagnosis ran on `cluster` within the cooldown: the caller runs one."""
        now = now or utcnow()
        with self._write() as s:
            self._insert_ignore(s, CooldownRow.__table__,
                                {"cluster": cluster, "until": _EPOCH, "incident_id": None, "updated_at": now},
                                ["cluster"])
            res = s.execute(update(CooldownRow).where(CooldownRow.cluster == cluster, CooldownRow.until <= now)
                            .values(until=now + timedelta(seconds=max(0.0, cooldown_s)),
                                    incident_id=incident_id, updated_at=now))
            return res.rowcount == 1

    def cooldown_holder(self, cluster: str) -> IncidentRow | None:
        """The incident whose full diagnosis started the cluster's current cooldown."""
        with self._read() as s:
            row = s.get(CooldownRow, cluster)
            return s.get(IncidentRow, row.incident_id) if row and row.incident_id else None

    def release_cooldown(self, cluster: str, incident_id: int) -> None:
        """The diagnosis failed: let the next firing try a full one."""
        with self._write() as s:
            s.execute(update(CooldownRow).where(CooldownRow.cluster == cluster,
                                                CooldownRow.incident_id == incident_id)
                      .values(until=_EPOCH, updated_at=utcnow()))

    # ------------------------------------------------------------------ scheduled handoff slots

    def claim_handoff_slot(self, schedule: str, slot_at: datetime, channel: str | None = None,
                           now: datetime | None = None) -> bool:
        with self._write() as s:
            return self._insert_ignore(s, HandoffSlotRow.__table__,
                                       {"schedule": schedule, "slot_at": slot_at, "claimed_at": now or utcnow(),
                                        "channel": channel}, ["schedule", "slot_at"])

    def set_handoff_posted(self, schedule: str, slot_at: datetime, ts: str | None) -> None:
        with self._write() as s:
            s.execute(update(HandoffSlotRow).where(HandoffSlotRow.schedule == schedule,
                                                   HandoffSlotRow.slot_at == slot_at).values(ts=ts))

    def last_handoff_slot(self, schedule: str) -> datetime | None:
        with self._read() as s:
            return s.execute(select(func.max(HandoffSlotRow.slot_at))
                             .where(HandoffSlotRow.schedule == schedule)).scalar_one_or_none()


def open_store(url: str | None = None, *, use_env: bool = True, migrate: bool = True) -> Store:
    """Open the store at `url` (DATABASE_URL wins when set) and upgrade its schema to head."""
    resolved = resolve_url(url, use_env=use_env)
    write_engine, read_engine = make_engines(resolved)
    if migrate:
        upgrade_to_head(write_engine)
    store = Store(resolved, write_engine, read_engine)
    try:  # keys only matter for retries and late duplicates: a month is plenty
        store.prune_keys(utcnow() - KEY_RETENTION)
    except Exception as e:
        log.warning("could not prune old dedup keys: %s", type(e).__name__)
    log.info("store open: %s (%s)", store.url, store.dialect)
    return store
