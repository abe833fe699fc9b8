"""Slow-log backends behind one interface: log files, Loki, and the Milvus 2.5+ proxy endpoint.

A source yields the slow requests of a window (and of one collection, when given), counts what it
read in a `SourceStats`, and raises `SourceUnavailable` when it cannot be read at all. Which source
a cluster uses is decided by `bot.slowlog.collect`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.models import Missing, SlowRequest, TimeWindow

MALFORMED_SAMPLES = 5  # malformed lines kept for the reply
MALFORMED_SAMPLE_CHARS = 300

# Collection names as Milvus accepts them; only such a name is ever put into a LogQL line filter.
COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SourceUnavailable(Exception):
    """The source could not be read (no files, Loki down, endpoint missing). The message says why."""


@dataclass
class SourceStats:
    """What a source read, beyond the requests it yields."""

    lines_read: int = 0  # lines looked at (all lines of the files; the pre-filtered lines Loki returned; API entries)
    malformed: int = 0
    malformed_samples: list[str] = field(default_factory=list)
    out_of_window: int = 0  # slow-looking lines outside the window
    other_collection: int = 0  # slow lines of other collections (when a collection was asked for)
    duplicates: int = 0  # the same line read twice (e.g. standalone.log and milvus-stdout.log)
    files_read: list[str] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)  # partial failures: one unreadable file, a late Loki error

    def add_malformed(self, line: bytes | str, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_samples) < MALFORMED_SAMPLES:
            text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
            if len(text) > MALFORMED_SAMPLE_CHARS:
                text = text[:MALFORMED_SAMPLE_CHARS] + "…"
            self.malformed_samples.append(f"{reason}: {text}")


class SlowLogSource(Protocol):
    """One backend. `label` names it in SlowLogEvidence.source and in "could not check" lines."""

    label: str

    def iter_requests(self, window: TimeWindow, collection: str | None,
                      stats: SourceStats) -> Iterator[SlowRequest]: ...


def redact_url(url: str) -> str:
    """The URL without any user:password part, for labels and messages (httpx accepts basic auth in URLs)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def aware(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so that window comparisons never raise."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def in_window(t: datetime | None, start: datetime, end: datetime) -> bool:
    return t is not None and start <= t <= end


__all__ = [
    "COLLECTION_NAME",
    "SlowLogSource",
    "SourceStats",
    "SourceUnavailable",
    "aware",
    "in_window",
    "redact_url",
]
