"""Live collection facts from Milvus through pymilvus, strictly read-only.

`collect_milvus(cluster, collection)` -> (MilvusEvidence | None, [Missing]). It never raises and
never writes: every call goes through `ReadOnlyMilvus`, a facade that keeps the pymilvus client
private and exposes only the read calls named in `READ_CALLS`. There is no generic passthrough,
so no code path here can create, insert, load, flush, compact or drop anything. It also never
creates a Milvus Lite file that does not exist yet (opening one with pymilvus would).

Each call carries a timeout (`milvus.timeout_s`, cut to what is left of `milvus.budget_s`). A
collection asked for by a user is matched against the live collection list first; only names that
came back from Milvus are ever sent to it. The token comes from the env var named by
`milvus.token_env` and is scrubbed from every reason and log line this module writes.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import statistics
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from bot.config import ClusterConfig, MilvusConfig
from bot.models import CollectionFacts, FieldFacts, IndexFacts, MilvusEvidence, Missing, SegmentFacts
from bot.playbook.versions import parse_version

log = logging.getLogger(__name__)
T = TypeVar("T")

# The ORM fallbacks are deprecated in pymilvus 3.x; they are used only on clients that lack the new calls.
warnings.filterwarnings("ignore", message=r".*ORM-style PyMilvus API.*", module=r"bot\.evidence\.milvus")


class _DropUnimplemented(logging.Filter):
    """Milvus Lite answers GetQuerySegmentInfo with UNIMPLEMENTED on every diagnosis; pymilvus and the
    in-process gRPC server would each log a full traceback at ERROR. We record it as a Missing instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not ("Method not implemented" in msg or "UNIMPLEMENTED" in msg)


for _name in ("pymilvus.decorators", "grpc._server"):
    logging.getLogger(_name).addFilter(_DropUnimplemented())

# The only pymilvus operations this module performs. Each one is a read.
READ_CALLS: frozenset[str] = frozenset({
    "get_server_version", "list_collections", "describe_collection", "list_indexes", "describe_index",
    "get_load_state", "get_collection_stats", "list_loaded_segments",
    # ORM fallbacks for pymilvus < 2.6.4, on a private alias that is disconnected on close:
    "utility.get_server_version", "utility.get_query_segment_info",
})

CONSISTENCY_LEVELS = {0: "Strong", 1: "Session", 2: "Bounded", 3: "Eventually", 4: "Customized"}
# common_pb2.SegmentState, written out so we do not depend on the generated module's layout.
SEGMENT_STATES = {0: "SegmentStateNone", 1: "NotExist", 2: "Growing", 3: "Sealed", 4: "Flushed",
                  5: "Flushing", 6: "Dropped", 7: "Importing"}
# describe_index keys that describe the index rather than its build parameters.
_INDEX_META_KEYS = frozenset({"index_type", "metric_type", "field_name", "index_name", "total_rows",
                              "indexed_rows", "pending_index_rows", "state", "params"})
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_SHOWN = 80  # user-typed names are cut to this many characters in reasons
_REASON = 300  # server error texts are cut to this many characters


class BudgetExceeded(Exception):
    """The per-diagnosis Milvus budget (milvus.budget_s) is used up."""


# --------------------------------------------------------------------------- URIs and secrets


def is_lite_uri(uri: str) -> bool:
    """A local Milvus Lite database (pymilvus opens any scheme-less *.db URI that way)."""
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
    return urlunsplit((parts.scheme, f"{host}:{port}" if port else host, parts.path, "", ""))


class Scrubber:
    """Replaces every form of the credentials with '***' (or the URI with its redacted form)."""

    def __init__(self, uri: str, token: str | None) -> None:
        pairs: list[tuple[str, str]] = []
        clean = redact_uri(uri)
        if uri != clean:
            pairs.append((uri, clean))
        if _SCHEME.match(uri):
            parts = urlsplit(uri)
            pairs += [(s, "***") for s in (parts.password, parts.query) if s]
            pairs += [(v, "***") for _, v in parse_qsl(parts.query) if len(v) >= 4]
        if token:
            pairs.append((token, "***"))
            secret = token.split(":", 1)[1] if ":" in token else ""
            if secret:
                pairs.append((secret, "***"))
        # Longest first, so a token is replaced before the password inside it.
        self._pairs = sorted(pairs, key=lambda p: len(p[0]), reverse=True)

    def __call__(self, text: str) -> str:
        for secret, repl in self._pairs:
            text = text.replace(secret, repl)
        return text


def describe_error(e: BaseException) -> str:
    """A short, human reason from a grpc or pymilvus error (the gRPC cause, when pymilvus wraps one)."""
    e = _grpc_cause(e)
    code = _grpc_code(e)
    if code == "DEADLINE_EXCEEDED":
        return "timed out"
    msg = getattr(e, "message", None) or (e.details() if hasattr(e, "details") and callable(e.details) else None)
    text = f"{code}: {msg}" if code and msg else str(msg or e) or type(e).__name__
    return " ".join(text.split())[:_REASON]


def _grpc_cause(e: BaseException) -> BaseException:
    """pymilvus reports a refused login as "Fail connecting ... server unavailable"; the gRPC error it
    wraps says UNAUTHENTICATED. Prefer that one."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if _grpc_code(cause) in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            return cause
        cause = cause.__cause__ or cause.__context__
    return e


def is_auth_error(e: BaseException) -> bool:
    return _grpc_code(_grpc_cause(e)) in ("UNAUTHENTICATED", "PERMISSION_DENIED")


def _grpc_code(e: BaseException) -> str | None:
    code = getattr(e, "code", None)
    if callable(code):
        try:
            c = code()
        except Exception:
            return None
        return getattr(c, "name", None)
    return None


def is_unimplemented(e: BaseException) -> bool:
    if _grpc_code(e) == "UNIMPLEMENTED":
        return True
    text = str(getattr(e, "message", "") or e)
    return "UNIMPLEMENTED" in text or "not implemented" in text.lower()


# --------------------------------------------------------------------------- read-only facade


class ReadOnlyMilvus:
    """The only door to Milvus in this project: read calls from READ_CALLS, each with a timeout.

    The client is held privately and there is no __getattr__ passthrough, so writes
    (insert, delete, create_*, drop_*, load/release, flush, compact, alter_*) cannot be reached.
    """

    __slots__ = ("_client", "_conn", "_deadline", "_orm_alias", "_timeout_s", "calls")

    def __init__(self, client: Any, conn: dict[str, Any], timeout_s: float, deadline: float) -> None:
        self._client = client
        self._conn = conn  # uri/token/db_name, for the ORM fallback only
        self._timeout_s = timeout_s
        self._deadline = deadline
        self._orm_alias: str | None = None
        self.calls: list[str] = []  # the operations performed, in order (for tests and "show evidence")

    @classmethod
    def connect(cls, cfg: MilvusConfig, token: str | None, deadline: float) -> ReadOnlyMilvus:
        from pymilvus import MilvusClient

        timeout = min(cfg.timeout_s, max(0.1, deadline - time.monotonic()))
        conn: dict[str, Any] = {"uri": cfg.uri, "token": token or ""}
        if cfg.db and cfg.db != "default":
            conn["db_name"] = cfg.db
        # dedicated: our own channel, closed by us, never shared with another MilvusClient in the process.
        client = MilvusClient(timeout=timeout, dedicated=True, **conn)
        return cls(client, conn, cfg.timeout_s, deadline)

    def _timeout(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0.05:
            raise BudgetExceeded("the Milvus time budget (milvus.budget_s) is used up")
        return min(self._timeout_s, left)

    def _call(self, op: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if op not in READ_CALLS:  # defence in depth: only reads, ever
            raise PermissionError(f"{op} is not a read call")
        self.calls.append(op)
        return fn(*args, timeout=self._timeout(), **kwargs)

    # -- reads
    def server_version(self) -> str:
        if hasattr(self._client, "get_server_version"):
            return str(self._call("get_server_version", self._client.get_server_version))
        from pymilvus import utility

        return str(self._call("utility.get_server_version", utility.get_server_version, using=self._orm()))

    def list_collections(self) -> list[str]:
        return [str(n) for n in self._call("list_collections", self._client.list_collections)]

    def describe_collection(self, name: str) -> dict[str, Any]:
        return dict(self._call("describe_collection", self._client.describe_collection, name))

    def list_indexes(self, name: str) -> list[str]:
        return [str(n) for n in self._call("list_indexes", self._client.list_indexes, name)]

    def describe_index(self, name: str, index_name: str) -> dict[str, Any] | None:
        d = self._call("describe_index", self._client.describe_index, name, index_name)
        return dict(d) if d else None

    def get_load_state(self, name: str) -> dict[str, Any]:
        return dict(self._call("get_load_state", self._client.get_load_state, name))

    def get_collection_stats(self, name: str) -> dict[str, Any]:
        return dict(self._call("get_collection_stats", self._client.get_collection_stats, name))

    def loaded_segments(self, name: str) -> tuple[list[dict[str, Any]], str]:
        """Loaded segments as plain dicts, and which call gave them."""
        if hasattr(self._client, "list_loaded_segments"):
            segs = self._call("list_loaded_segments", self._client.list_loaded_segments, name)
            return [_segment_dict(s) for s in segs], "list_loaded_segments"
        return self.query_segment_info_orm(name), "utility.get_query_segment_info"

    def query_segment_info_orm(self, name: str) -> list[dict[str, Any]]:
        """The same facts through the ORM (pymilvus < 2.6.4 has no list_loaded_segments)."""
        from pymilvus import utility

        segs = self._call("utility.get_query_segment_info", utility.get_query_segment_info, name,
                          using=self._orm())
        return [_segment_dict(s) for s in segs]

    def _orm(self) -> str:
        if self._orm_alias is None:
            from pymilvus import connections

            alias = f"milvus-triage-ro-{uuid.uuid4().hex[:12]}"
            connections.connect(alias=alias, timeout=self._timeout(), **self._conn)
            self._orm_alias = alias
        return self._orm_alias

    def close(self) -> None:
        if self._orm_alias is not None:
            from pymilvus import connections

            try:
                connections.disconnect(self._orm_alias)
            except Exception:  # closing must never cost the evidence already gathered
                log.debug("ORM disconnect failed", exc_info=True)
            self._orm_alias = None
        try:
            self._client.close()
        except Exception:
            log.debug("MilvusClient.close failed", exc_info=True)


def _segment_dict(s: Any) -> dict[str, Any]:
    """LoadedSegmentInfo (pymilvus >= 2.6.4) or QuerySegmentInfo protobuf -> one plain shape."""

    def get(*names: str) -> Any:
        return next((getattr(s, a) for a in names if hasattr(s, a)), None)

    state = getattr(s, "state_name", None) or get("state")
    if isinstance(state, int) or (isinstance(state, str) and state.isdigit()):
        state = SEGMENT_STATES.get(int(state), str(state))
    return {
        "segment_id": get("segment_id", "segmentID"),
        "num_rows": int(get("num_rows") or 0),
        "state": str(state or ""),
        "index_name": str(get("index_name") or ""),
        "index_id": int(get("index_id", "indexID") or 0),
    }


# --------------------------------------------------------------------------- facts


def _enum_name(v: Any) -> str | None:
    if v is None:
        return None
    if hasattr(v, "name"):
        return str(v.name)
    if isinstance(v, int):
        from pymilvus import DataType

        try:
            return DataType(v).name
        except ValueError:
            return str(v)
    return str(v)


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None and v != "" else None
    except (TypeError, ValueError):
        return None


def _number(v: Any) -> Any:
    """'16' -> 16, '0.5' -> 0.5; anything else unchanged (index params arrive as strings from 2.3.5)."""
    if isinstance(v, str):
        if re.fullmatch(r"-?\d+", v):
            return int(v)
        if re.fullmatch(r"-?\d+\.\d*(e-?\d+)?", v):
            return float(v)
    return v


def _bool(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes", "on")


def field_facts(f: dict[str, Any]) -> FieldFacts:
    dtype = _enum_name(f.get("type")) or "UNKNOWN"
    params = f.get("params") or {}
    return FieldFacts(
        name=str(f.get("name")),
        data_type=dtype,
        is_primary=bool(f.get("is_primary")),
        is_partition_key=bool(f.get("is_partition_key")),
        is_vector=dtype.endswith("_VECTOR"),
        element_type=_enum_name(f.get("element_type")),
        max_length=_int(params.get("max_length")),
        dim=_int(params.get("dim")),
    )


def index_facts(d: dict[str, Any]) -> IndexFacts:
    """describe_index's dict -> IndexFacts. Build params arrive flattened (2.3.5: M, efConstruction)
    or as a nested `params` dict; Milvus Lite sends none. Both shapes end up in `params`."""
    params = {k: _number(v) for k, v in d.items() if k not in _INDEX_META_KEYS}
    nested = d.get("params")
    if isinstance(nested, dict):
        params.update({k: _number(v) for k, v in nested.items()})
    metric = d.get("metric_type")
    return IndexFacts(
        field_name=str(d.get("field_name") or ""),
        index_name=d.get("index_name"),
        index_type=d.get("index_type"),
        metric_type=None if metric in (None, "", "NONE") else str(metric),
        params=params,
        state=d.get("state"),
        total_rows=_int(d.get("total_rows")),
        indexed_rows=_int(d.get("indexed_rows")),
        pending_index_rows=_int(d.get("pending_index_rows")),
    )


def consistency_name(desc: dict[str, Any]) -> str | None:
    name = desc.get("consistency_level_name")
    if name:
        return str(name)
    level = desc.get("consistency_level")
    if isinstance(level, str) and not level.isdigit():
        return level
    number = _int(level)
    return CONSISTENCY_LEVELS.get(number) if number is not None else None


def mmap_setting(properties: dict[str, Any], indexes: list[IndexFacts]) -> bool | None:
    """The collection property `mmap.enabled`, else whether any index sets it, else unknown."""
    if "mmap.enabled" in properties:
        return _bool(properties["mmap.enabled"])
    per_index = [_bool(i.params["mmap.enabled"]) for i in indexes if "mmap.enabled" in i.params]
    return any(per_index) if per_index else None


def _version_tuple(version: str | None) -> tuple[int, int] | None:
    v = parse_version(version)
    return v[:2] if v is not None else None


def segment_facts(segments: list[dict[str, Any]], vector_indexes: list[IndexFacts], cfg: MilvusConfig,
                  server_version: str | None = None, source: str | None = None) -> SegmentFacts:
    """Count sealed/growing/unindexed/small segments from the loaded-segment list.

    A sealed segment is unindexed when it reports no index name. 2.3.5 reports *one* index name per
    segment, whichever loaded last, so a scalar index name there leaves the vector index unknown --
    except with FLAT (or no vector index), which never loads as an index: those count as unindexed.
    """
    vector_names = {i.index_name for i in vector_indexes if i.index_name}
    brute_force = all((i.index_type or "").upper() == "FLAT" for i in vector_indexes)
    sealed_rows: list[int] = []
    facts = SegmentFacts(total=len(segments), source=source)
    for s in segments:
        if s["state"] == "Growing":
            facts.growing += 1
            continue
        facts.sealed += 1
        sealed_rows.append(s["num_rows"])
        name = s["index_name"]
        if name in vector_names:
            continue
        if not name or brute_force:
            facts.unindexed_sealed += 1
        else:
            facts.index_unknown += 1
    if sealed_rows:
        median = statistics.median(sealed_rows)
        facts.rows_min, facts.rows_max, facts.rows_median = min(sealed_rows), max(sealed_rows), int(median)
        facts.small = sum(1 for r in sealed_rows
                          if r < cfg.small_segment_rows or r < cfg.small_segment_ratio * median)
    if facts.growing:
        facts.growing_reported = True
    elif _version_tuple(server_version) == (2, 3):
        facts.growing_reported = False  # measured on 2.3.5: GetQuerySegmentInfo lists sealed segments only
    return facts


# --------------------------------------------------------------------------- collection


class _Reader:
    """Reads the facts of one cluster; sub-steps that fail become Missing entries, not exceptions."""

    def __init__(self, db: ReadOnlyMilvus, cfg: MilvusConfig, scrub: Scrubber) -> None:
        self.db, self.cfg, self.scrub = db, cfg, scrub
        self.missing: list[Missing] = []
        self.version: str | None = None

    def reason(self, e: BaseException) -> str:
        if isinstance(e, BudgetExceeded):
            return str(e)
        text = describe_error(e)
        if text == "timed out":
            text = f"timed out after {self.cfg.timeout_s:g}s"
        return self.scrub(text)

    def attempt(self, what: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except BudgetExceeded:
            raise
        except Exception as e:
            log.info("milvus: %s failed: %s", what, self.reason(e))
            self.missing.append(Missing(source="milvus", what=what, reason=self.reason(e)))
            return None

    def collection(self, name: str) -> CollectionFacts:
        db = self.db
        desc = db.describe_collection(name)  # failure here: the whole collection is unavailable
        facts = CollectionFacts(
            name=name,
            collection_id=_int(desc.get("collection_id")) or None,
            db=self.cfg.db,
            fields=[field_facts(f) for f in desc.get("fields") or []],
            consistency_level=consistency_name(desc),
        )
        index_names = self.attempt(f"indexes of {name}", lambda: db.list_indexes(name)) or []
        for index_name in index_names:
            d = self.attempt(f"index {index_name} of {name}", lambda n=index_name: db.describe_index(name, n))
            if d:
                facts.indexes.append(index_facts(d))
        for f in facts.fields:
            f.index = next((i for i in facts.indexes if i.field_name == f.name), None)
        facts.mmap_enabled = mmap_setting(desc.get("properties") or {}, facts.indexes)

        load = self.attempt(f"load state of {name}", lambda: db.get_load_state(name))
        if load and load.get("state") is not None:
            state = load["state"]
            facts.load_state = str(getattr(state, "name", state))
        stats = self.attempt(f"row count of {name}", lambda: db.get_collection_stats(name))
        if stats:
            facts.row_count = _int(stats.get("row_count"))
        self._segments(facts)
        return facts

    def _segments(self, facts: CollectionFacts) -> None:
        if facts.load_state is not None and facts.load_state != "Loaded":
            facts.segments_unavailable = f"collection is not loaded (load state {facts.load_state})"
            return
        try:
            segs, source = self.db.loaded_segments(facts.name)
        except BudgetExceeded:
            raise
        except Exception as e:
            if is_unimplemented(e):
                server = "Milvus Lite" if (self.version or "").startswith("milvus_lite") else "this server"
                facts.segments_unavailable = f"not implemented by {server} (GetQuerySegmentInfo: UNIMPLEMENTED)"
            else:
                facts.segments_unavailable = self.reason(e)
            self.missing.append(Missing(source="milvus", what=f"segments of {facts.name}",
                                        reason=facts.segments_unavailable))
            return
        vector_indexes = [i for i in facts.indexes
                          if (fld := facts.field(i.field_name)) is not None and fld.is_vector]
        facts.segments = segment_facts(segs, vector_indexes, self.cfg, self.version, source)


def _shown(text: str) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def unknown_collection_reason(asked: str, known: list[str], cluster: str) -> str:
    close = difflib.get_close_matches(asked, known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(sorted(known)[:30]) + (f" (+{len(known) - 30} more)" if len(known) > 30 else "")
    return (f"no collection named {_shown(asked)!r} on {cluster}.{hint} "
            f"Known collections: {listed or '(none)'}")


def collect_milvus(cluster: ClusterConfig, collection: str | None) -> tuple[MilvusEvidence | None, list[Missing]]:
    """Read-only facts of the cluster's collections (or of the one asked). Never raises."""
    cfg = cluster.milvus
    if cfg is None:
        return None, [Missing(source="milvus", what="Milvus",
                              reason=f"not configured (cluster {cluster.name} has no milvus: section)")]
    clean_uri = redact_uri(cfg.uri)
    token: str | None = None
    if cfg.token_env:
        token = os.environ.get(cfg.token_env)
        if not token:
            return None, [Missing(source="milvus", what="Milvus",
                                  reason=f"environment variable {cfg.token_env} (milvus.token_env) is not set")]
    if is_lite_uri(cfg.uri) and not Path(cfg.uri).exists():
        # Opening it would create an empty database; this bot only reads.
        return None, [Missing(source="milvus", what="Milvus",
                              reason=f"Milvus Lite database {clean_uri} does not exist")]
    scrub = Scrubber(cfg.uri, token)
    deadline = time.monotonic() + cfg.budget_s
    try:
        db = ReadOnlyMilvus.connect(cfg, token, deadline)
    except Exception as e:
        reason = scrub(describe_error(e))
        if is_auth_error(e):
            hint = f" (check the token in {cfg.token_env})" if cfg.token_env else " (no milvus.token_env configured)"
            reason = f"login refused by {clean_uri}{hint}: {reason}"
        else:
            reason = f"unreachable at {clean_uri}: {reason}"
        log.info("milvus: %s", reason)
        return None, [Missing(source="milvus", what="Milvus", reason=reason)]
    try:
        return _collect(db, cluster.name, cfg, collection, scrub, clean_uri)
    finally:
        db.close()


def _collect(db: ReadOnlyMilvus, cluster_name: str, cfg: MilvusConfig, asked: str | None, scrub: Scrubber,
             clean_uri: str) -> tuple[MilvusEvidence | None, list[Missing]]:
    reader = _Reader(db, cfg, scrub)
    evidence = MilvusEvidence(uri=clean_uri)
    try:
        reader.version = evidence.server_version = reader.attempt("Milvus server version", db.server_version)
        names = db.list_collections()
    except Exception as e:
        reader.missing.append(Missing(source="milvus", what="Milvus collections", reason=reader.reason(e)))
        return evidence, reader.missing
    if asked is not None:
        if asked not in names:
            reader.missing.append(Missing(source="milvus", what=f"collection {_shown(asked)}",
                                          reason=unknown_collection_reason(asked, names, cluster_name)))
            return evidence, reader.missing
        targets = [asked]
    else:
        targets = sorted(names)[:cfg.max_collections]
        if len(names) > len(targets):
            reader.missing.append(Missing(
                source="milvus", what="Milvus collections",
                reason=f"read {len(targets)} of {len(names)} collections (milvus.max_collections); "
                       "ask about one collection by name for its facts"))
    for i, name in enumerate(targets):
        try:
            evidence.collections.append(reader.collection(name))
        except BudgetExceeded as e:
            for rest in targets[i:]:
                evidence.collections_unavailable[rest] = str(e)
            reader.missing.append(Missing(source="milvus", what=f"{len(targets) - i} collection(s)",
                                          reason=f"not read: {e} ({cfg.budget_s:g}s)"))
            break
        except Exception as e:
            reason = reader.reason(e)
            evidence.collections_unavailable[name] = reason
            reader.missing.append(Missing(source="milvus", what=f"collection {name}", reason=reason))
    return evidence, reader.missing
