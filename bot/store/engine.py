"""Engines for the store: SQLite (embedded, the default) or PostgreSQL (for several replicas).

SQLite notes: WAL lets readers run beside one writer; every write transaction starts with
`BEGIN IMMEDIATE` so two processes never both read then fail to upgrade to a write lock
(SQLITE_BUSY without waiting); `busy_timeout` makes the loser wait instead of erroring.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite:///milvus-triage.db"
DATABASE_URL_ENV = "DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 30.0


class StoreURLError(ValueError):
    """A database URL the store cannot use."""


def resolve_url(url: str | None = None, use_env: bool = True) -> str:
    """DATABASE_URL (when set and `use_env`) wins over `url`; URLs are normalised to our drivers."""
    chosen = (os.environ.get(DATABASE_URL_ENV) if use_env else None) or url or DEFAULT_URL
    return normalize_url(chosen)


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// (Heroku-style) use psycopg 3, the driver we ship."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    try:
        parsed = make_url(url)
    except Exception as e:
        raise StoreURLError(f"cannot read database URL {redact(url)!r}: {e}") from e
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreURLError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://")
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unreadable URL>"


def make_engines(url: str) -> tuple[Engine, Engine]:
    """(write engine, read engine). They are the same engine on PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        return engine, engine
    return _sqlite_engine(url, immediate=True), _sqlite_engine(url, immediate=False)


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}}
    if database in ("", ":memory:"):
        kwargs["poolclass"] = StaticPool  # one shared connection, else every connection is a new empty DB
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own BEGIN is deferred)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if database not in ("", ":memory:"):
            _enable_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cur: Any) -> None:
    """Switch the file to WAL once (it persists). The switch needs an exclusive lock and SQLite does
    not run the busy handler for it, so a replica starting while another writes retries here."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cur.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
