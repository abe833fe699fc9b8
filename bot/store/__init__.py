"""History store (SQLAlchemy 2.x): SQLite by default, PostgreSQL via DATABASE_URL; Alembic migrations.

`open_store(url)` upgrades the schema to head on start and returns a `Store`.
"""

from bot.store.engine import StoreURLError, resolve_url
from bot.store.store import NewIncident, Store, open_store

__all__ = ["NewIncident", "Store", "StoreURLError", "open_store", "resolve_url"]
