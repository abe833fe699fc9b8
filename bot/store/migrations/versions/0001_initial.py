"""History store: diagnoses (+ findings, collection latencies), incidents, dedup keys, cooldowns, handoff slots.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ident", sa.String(512), nullable=False),
        sa.Column("open_key", sa.String(512), nullable=True),
        sa.Column("firing_key", sa.String(512), nullable=False),
        sa.Column("cluster", sa.String(63), nullable=False),
        sa.Column("alertname", sa.String(255), nullable=False),
        sa.Column("group_key", sa.String(1000), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(8), nullable=True),
        sa.Column("fired_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("diagnosis_id", sa.Integer(), nullable=True),
        sa.Column("last_finding", sa.String(1000), nullable=True),
        sa.Column("summary", sa.String(1000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("open_key", name="incidents_open_key_key"),
    )
    op.create_index("ix_incidents_ident_fired", "incidents", ["ident", "fired_at"])
    op.create_index("ix_incidents_fired", "incidents", ["fired_at"])
    op.create_index("ix_incidents_resolved", "incidents", ["resolved_at"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_thread", "incidents", ["channel", "thread_ts"])

    op.create_table(
        "diagnoses",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cluster", sa.String(63), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("collection", sa.String(255), nullable=True),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("top_cause", sa.String(64), nullable=True),
        sa.Column("top_rule_id", sa.String(128), nullable=True),
        sa.Column("top_finding", sa.String(512), nullable=True),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
        sa.Column("permalink", sa.String(1000), nullable=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True),
        sa.Column("elapsed_s", sa.Float(), nullable=True),
    )
    op.create_index("ix_diagnoses_created_cluster_cause", "diagnoses", ["created_at", "cluster", "top_cause"])
    op.create_index("ix_diagnoses_incident", "diagnoses", ["incident_id"])

    op.create_table(
        "diagnosis_findings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("diagnosis_id", sa.Integer(), sa.ForeignKey("diagnoses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cluster", sa.String(63), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("collection", sa.String(255), nullable=False),
        sa.Column("cause", sa.String(64), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("title", sa.String(512), nullable=False),
    )
    op.create_index("ix_findings_created_cluster_rule", "diagnosis_findings",
                    ["created_at", "cluster", "rule_id", "collection"])
    op.create_index("ix_findings_diagnosis", "diagnosis_findings", ["diagnosis_id"])

    op.create_table(
        "diagnosis_collections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("diagnosis_id", sa.Integer(), sa.ForeignKey("diagnoses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cluster", sa.String(63), nullable=False),
        sa.Column("collection", sa.String(255), nullable=False),
        sa.Column("slow_count", sa.Integer(), nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=False),
        sa.Column("p95_ms", sa.Float(), nullable=True),
    )
    op.create_index("ix_collections_created_cluster", "diagnosis_collections",
                    ["created_at", "cluster", "collection", "max_ms", "slow_count"])
    op.create_index("ix_collections_diagnosis", "diagnosis_collections", ["diagnosis_id"])

    op.create_table(
        "dedup_keys",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_dedup_keys_created", "dedup_keys", ["created_at"])

    op.create_table(
        "cooldowns",
        sa.Column("cluster", sa.String(63), primary_key=True),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "handoff_slots",
        sa.Column("schedule", sa.String(128), nullable=False),
        sa.Column("slot_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("schedule", "slot_at", name="pk_handoff_slots"),
    )


def downgrade() -> None:
    for table in ("handoff_slots", "cooldowns", "dedup_keys", "diagnosis_collections", "diagnosis_findings",
                  "diagnoses", "incidents"):
        op.drop_table(table)
