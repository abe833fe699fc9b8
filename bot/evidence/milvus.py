"""Live collection facts from Milvus through pymilvus, strictly read-only.

`collect_milvus(cluster, collection)` -> (MilvusEvidence | None, [Missing]). It never raises and
never writes: every call goes through `ReadOnlyMilvus`, a facade that holds the pymilvus client
privately and exposes only the read calls named in `READ_CALLS`. There is no generic passthrough,
so no code path here can create, insert, load, flush, compact or drop anything.

Each call carries a timeout (`milvus.timeout_s`, shortened to what is left of `milvus.budget_s`).
A collection asked for by a user is matched against the live collection list first; only names
that came back from Milvus are ever sent to it. The token comes from the env var named by
`milvus.token_env` and never appears in the evidence, in errors or in logs.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
import statistics
import time
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.config import ClusterConfig, MilvusConfig
from bot.models import CollectionFacts, FieldFacts, IndexFacts, MilvusEvidence, Missing, SegmentFacts

log = logging.getLogger(__name__)

# The ORM fallbacks are deprecated in pymilvus 3.x; we only use them on clients that lack the new calls.
warnings.filterwarnings("ignore", message=r".*ORM-style PyMilvus API.*", module=r"bot\.evidence\.milvus")

# The only pymilvus operations this module may perform. Each is a read.
READ_CALLS: frozenset[str] = frozenset({
    "get_server_version", "list_collections", "describe_collection", "list_indexes", "describe_index",
    "get_load_state", "get_collection_stats", "list_loaded_segments",
    # ORM fallbacks for pymilvus < 2.6.4, on a private alias that is disconnected on close:
    "utility.get_server_version", "utility.get_query_segment_info",
})

CONSISTENCY_LEVELS = {0: "Strong", 1: "Session", 2: "Bounded", 3: "Eventually", 4: "Customized"}
# common_pb2.SegmentState, so we do not depend on the generated module's layout.
SEGMENT_STATES = {0: "SegmentStateNone", 1: "NotExist", 2: "Growing", 3: "Sealed", 4: "Flushed",
                  5: "Flushing", 6: "Dropped", 7: "Importing"}
# describe_index keys that are not index build parameters.
_INDEX_META_KEYS = {"index_type", "metric_type", "field_name", "index_name", "total_rows", "indexed_rows",
                    "pending_index_rows", "state", "params"}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_MAX_SHOWN_NAME = 80  # user-typed names are truncated in reasons


class BudgetExceeded(Exception):
    """The per-diagnosis Milvus budget (milvus.budget_s) is used up."""


# --------------------------------------------------------------------------- URIs and secrets


def is_lite_uri(uri: str) -> bool:
    """A local Milvus Lite database file (pymilvus treats any *.db URI without a scheme that way)."""
    return not _SCHEME.match(uri) and uri.endswith(".db")


def redact_uri(uri: str) -> str:
    """The URI without user:password@ and without a query string (tokens sometimes travel there)."""
    if not _SCHEME.match(uri):
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Scrubber:
    """Removes every form of the secret from text that leaves this module (errors become reasons)."""

    def __init__(self, uri: str, token: str | None) -> None:
        self.secrets = [s for s in {uri, token or ""} if s and s != redact_uri(uri)]
        if _SCHEME.match(uri):
            parts = urlsplit(uri)
            self.secrets += [s for s in (parts.password, parts.username and f"{parts.username}:") if s]
            if parts.query:
                self.secrets.append(parts.query)
        if token and ":" in token:
            self.secrets.append(token.split(":", 1)[1])
        self.secrets.sort(key=len, reverse=True)
        self.uri = redact_uri(uri)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, self.uri if s == self.secrets_uri else "***")
        return text

    @property
    def secrets_uri(self) -> str | None:
        return None


def _scrub_factory(uri: str, token: str | None):  # type: ignore[no-untyped-def]
    raw_secrets: list[tuple[str, str]] = []
    clean = redact_uri(uri)
    if uri != clean:
        raw_secrets.append((uri, clean))
    if _SCHEME.match(uri):
        parts = urlsplit(uri)
        for s in (parts.password, parts.query):
            if s:
                raw_secrets.append((s, "***"))
    if token:
        raw_secrets.append((token, "***"))
        if ":" in token and token.split(":", 1)[1]:
            raw_secrets.append((token.split(":", 1)[1], "***"))
    raw_secrets.sort(key=lambda p: len(p[0]), reverse=True)

    def scrub(text: str) -> str:
        for secret, repl in raw_secrets:
            text = text.replace(secret, repl)
        return text

    return scrub
