"""Alembic migrations of the history store (run programmatically by bot.store.migrate)."""
