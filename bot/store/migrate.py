"""Run the Alembic migrations to head, programmatically (no alembic.ini), safely from several replicas.

Two replicas starting at once must not both create the tables: on PostgreSQL a transaction-scoped
advisory lock serialises them (DDL is transactional there); on SQLite the write engine's
`BEGIN IMMEDIATE` does the same. The loser then finds the version at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed 64-bit number; it only has to be the same for every replica of this app.
_PG_LOCK_ID = 0x6D696C7675737472  # "milvustr"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> str:
    """Upgrade the database behind `engine` to the newest revision; returns that revision."""
    cfg = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return head_revision()
