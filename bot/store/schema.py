"""The history store's tables (SQLAlchemy 2.x declarative models).

The migrations under bot/store/migrations create exactly these tables; a test compares the two.
Times are stored as naive UTC (one rule for SQLite and PostgreSQL) and come back as aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, naive UTC in the database, aware UTC out."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregates (max/min) return the stored text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class DiagnosisRow(Base):
    """One diagnosis, whoever asked for it (slash command, mention, alert, webhook, CLI, schedule)."""

    __tablename__ = "diagnoses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cluster: Mapped[str] = mapped_column(String(63), nullable=False)
    trigger: Mapped[str] = mapped_column(String(32), nullable=False)
    collection: Mapped[str | None] = mapped_column(String(255))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    top_cause: Mapped[str | None] = mapped_column(String(64))
    top_rule_id: Mapped[str | None] = mapped_column(String(128))
    top_finding: Mapped[str | None] = mapped_column(String(512))
    verdict: Mapped[str] = mapped_column(Text, nullable=False, default="")
    healthy: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(1000))
    incident_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("incidents.id", ondelete="SET NULL"))
    elapsed_s: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        # The handoff counts diagnoses per cluster and top cause over a window: a covering index.
        Index("ix_diagnoses_created_cluster_cause", "created_at", "cluster", "top_cause"),
        Index("ix_diagnoses_incident", "incident_id"),
    )


class FindingRow(Base):
    """One finding of one diagnosis, flattened so "3rd time this week" is an indexed GROUP BY."""

    __tablename__ = "diagnosis_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    diagnosis_id: Mapped[int] = mapped_column(Integer, ForeignKey("diagnoses.id", ondelete="CASCADE"),
                                              nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cluster: Mapped[str] = mapped_column(String(63), nullable=False)
    rule_id: Mapped[str] = mapped_column(String(128), nullable=False)
    collection: Mapped[str] = mapped_column(String(255), nullable=False, default="")  # "" = cluster-wide
    cause: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(512), nullable=False, default="")

    __table_args__ = (
        Index("ix_findings_created_cluster_rule", "created_at", "cluster", "rule_id", "collection"),
        Index("ix_findings_diagnosis", "diagnosis_id"),
    )


class CollectionLatencyRow(Base):
    """Per collection slow-request figures of one diagnosis (from its slow-log digest), for "slowest collections"."""

    __tablename__ = "diagnosis_collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    diagnosis_id: Mapped[int] = mapped_column(Integer, ForeignKey("diagnoses.id", ondelete="CASCADE"),
                                              nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    cluster: Mapped[str] = mapped_column(String(63), nullable=False)
    collection: Mapped[str] = mapped_column(String(255), nullable=False)
    slow_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    p95_ms: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_collections_created_cluster", "created_at", "cluster", "collection", "max_ms", "slow_count"),
        Index("ix_collections_diagnosis", "diagnosis_id"),
    )


class IncidentRow(Base):
    """One firing of one alert group on one cluster, from first notice to resolution.

    `open_key` equals `ident` while the incident is open and NULL afterwards: its UNIQUE constraint
    is what lets exactly one replica open an incident (NULLs never collide, in SQLite and PostgreSQL).
    """

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ident: Mapped[str] = mapped_column(String(512), nullable=False)
    open_key: Mapped[str | None] = mapped_column(String(512))
    firing_key: Mapped[str] = mapped_column(String(512), nullable=False)
    cluster: Mapped[str] = mapped_column(String(63), nullable=False)
    alertname: Mapped[str] = mapped_column(String(255), nullable=False)
    group_key: Mapped[str | None] = mapped_column(String(1000))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")  # open/resolved/expired
    mode: Mapped[str | None] = mapped_column(String(8))  # full / still (cooldown)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    diagnosis_id: Mapped[int | None] = mapped_column(Integer)  # no FK: diagnoses already points here
    last_finding: Mapped[str | None] = mapped_column(String(1000))
    summary: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("open_key", name="incidents_open_key_key"),
        Index("ix_incidents_ident_fired", "ident", "fired_at"),
        Index("ix_incidents_fired", "fired_at"),
        Index("ix_incidents_resolved", "resolved_at"),
        Index("ix_incidents_status", "status"),
        Index("ix_incidents_thread", "channel", "thread_ts"),
    )


class DedupKeyRow(Base):
    """Insert-if-absent keys: alert firings, Slack event ids, one-off posts. The primary key is the lock."""

    __tablename__ = "dedup_keys"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_dedup_keys_created", "created_at"),)


class CooldownRow(Base):
    """Per-cluster alert cooldown: claimed with a conditional UPDATE so one replica wins."""

    __tablename__ = "cooldowns"

    cluster: Mapped[str] = mapped_column(String(63), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    incident_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class HandoffSlotRow(Base):
    """One scheduled handoff slot; the replica whose insert wins posts it."""

    __tablename__ = "handoff_slots"

    schedule: Mapped[str] = mapped_column(String(128), nullable=False)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    channel: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (PrimaryKeyConstraint("schedule", "slot_at", name="pk_handoff_slots"),)
