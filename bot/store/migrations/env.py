"""Alembic environment: always called by bot.store.migrate with an open connection (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from bot.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through bot.store.open_store() or bot.store.migrate.upgrade_to_head()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
