"""Slow requests from the Milvus 2.5+ proxy endpoint `GET <proxy>:9091/api/v1/_cluster/slow_query`.

The answer is a JSON array of `SlowQuery` (milvus pkg/util/metricsinfo): time, role, database,
collection, partitions, consistency_level, use_default_consistency, guarantee_timestamp (a string),
duration, user, query_params{search_params[{dsl[], search_params[], nq[]}], expr, output_fields},
type, trace_id. Every field is `omitempty`, so an absent bool is false and an absent number is 0.
The proxy keeps only the last 20 entries of the last 15 minutes, and writes `time` in its local
time zone without an offset (`2006-01-02 15:04:05`); we read it as UTC, as Milvus pods run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.config import MilvusConfig
from bot.models import Missing, SlowRequest, TimeWindow
from bot.slowlog.parser import HYBRID_JOIN, RAW_KEEP, MalformedLine, parse_duration, split_search_params
from bot.slowlog.sources import SourceStats, SourceUnavailable, aware, in_window, redact_url

PATH = "/api/v1/_cluster/slow_query"
METRICS_PORT = 9091  # the proxy's HTTP (metrics/WebUI) port
RETENTION = timedelta(minutes=15)  # expirable.NewLRU(20, nil, 15*time.Minute) in the proxy
_TYPES = {"Search": "search", "HybridSearch": "hybrid_search", "Query": "query"}


def derive_url(milvus: MilvusConfig | None) -> tuple[str | None, str]:
    """The proxy's metrics-port URL from the Milvus URI (same host, port 9091), or (None, why not)."""
    if milvus is None:
        return None, "no milvus.uri to take the proxy host from"
    uri = milvus.uri.strip()
    if "://" not in uri:
        if uri.endswith(".db") or uri.startswith(("/", ".", "~")):
            return None, f"{uri} is a Milvus Lite file, which has no proxy HTTP endpoint"
        uri = "tcp://" + uri
    parts = urlsplit(uri)
    if parts.scheme in ("unix", "file") or not parts.hostname:
        return None, f"cannot take a host from milvus.uri {milvus.uri!r}"
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{METRICS_PORT}", ""


class SlowQueryApiSource:
    def __init__(self, base_url: str, timeout_s: float = 15.0, client: httpx.Client | None = None,
                 derived: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.label = f"slow_query_api:{redact_url(self.base_url)}"
        self._client = client
        self.derived = derived  # the URL was guessed from milvus.uri, not configured

    def fetch(self) -> list[dict[str, Any]]:
        url = self.base_url + PATH
        shown = redact_url(url)
        hint = " (URL derived from milvus.uri; set logs.slow_query_api to override)" if self.derived else ""
        try:
            if self._client is not None:
                resp = self._client.get(url, timeout=self.timeout_s)
            else:
                with httpx.Client(timeout=self.timeout_s) as client:
                    resp = client.get(url)
        except httpx.TimeoutException as e:
            raise SourceUnavailable(f"{shown} did not answer within {self.timeout_s:g}s{hint}") from e
        except httpx.HTTPError as e:
            raise SourceUnavailable(f"cannot reach {shown}: {type(e).__name__}{hint}") from e
        if resp.status_code == 404:
            raise SourceUnavailable(f"{shown} answered 404: Milvus older than 2.5, or its WebUI is off "
                                    f"(proxy.http.enableWebUI){hint}")
        if resp.status_code != 200:
            raise SourceUnavailable(f"{shown} answered HTTP {resp.status_code}: "
                                    f"{' '.join(resp.text.split())[:200]}{hint}")
        try:
            doc = resp.json()
        except ValueError as e:
            raise SourceUnavailable(f"{shown} did not answer JSON") from e
        if doc is None:  # Go marshals an empty nil slice as null
            return []
        if not isinstance(doc, list):
            raise SourceUnavailable(f"{shown} answered a JSON {type(doc).__name__}, not the array of slow queries")
        return doc

    def iter_requests(self, window: TimeWindow, collection: str | None,
                      stats: SourceStats) -> Iterator[SlowRequest]:
        start, end = aware(window.start), aware(window.end)
        if start < datetime.now(UTC) - RETENTION:
            stats.missing.append(Missing(
                source="slowlog", what="slow requests before the last 15 min",
                reason="the proxy's slow_query endpoint keeps only the last 20 requests of the last 15 minutes",
            ))
        for entry in self.fetch():
            stats.lines_read += 1
            raw = json.dumps(entry, ensure_ascii=False)
            try:
                req = map_entry(entry, raw)
            except MalformedLine as e:
                stats.add_malformed(raw, str(e))
                continue
            if not in_window(req.time, start, end):
                stats.out_of_window += 1
                continue
            if collection is not None and req.collection != collection:
                stats.other_collection += 1
                continue
            yield req


def map_entry(e: Any, raw: str = "") -> SlowRequest:
    """One SlowQuery object -> SlowRequest(fmt="api"). Raises MalformedLine when it cannot be read."""
    if not isinstance(e, dict):
        raise MalformedLine("slow query entry is not an object")
    kind = _TYPES.get(str(e.get("type", "")))
    if kind is None:
        raise MalformedLine(f"unknown slow query type {str(e.get('type'))[:30]!r}")
    if not e.get("duration"):
        raise MalformedLine("slow query entry without duration")
    duration_s = parse_duration(str(e["duration"]))
    when = _time(e.get("time"))
    qp = e.get("query_params") or {}
    if not isinstance(qp, dict):
        raise MalformedLine("query_params is not an object")
    subs = [s for s in (qp.get("search_params") or []) if isinstance(s, dict)]
    dsls = [_first(s.get("dsl")) for s in subs]
    nq: int | None = None
    topk: int | None = None
    metric: str | None = None
    anns: str | None = None
    params: dict[str, Any] = {}
    if kind == "query":
        dsl = str(qp.get("expr") or "")
    else:
        nqs = [int(n) for s in subs for n in (s.get("nq") or []) if _is_int(n)]
        nq = sum(nqs) if nqs else None
        parsed = [split_search_params(parse_kv_params(_first(s.get("search_params")))) for s in subs]
        if parsed and all(p == parsed[0] for p in parsed):  # one search, or sub-requests that agree
            topk, metric, anns, params = parsed[0][0], parsed[0][1], parsed[0][2], dict(parsed[0][3])
        if kind == "hybrid_search":
            dsl = HYBRID_JOIN.join(d for d in dsls if d)
        else:
            dsl = str(qp.get("expr") or (dsls[0] if dsls else ""))
            dsls = []
    gt = e.get("guarantee_timestamp")
    try:
        guarantee = int(gt) if gt not in (None, "") else 0  # omitempty: absent means 0
    except (TypeError, ValueError) as err:
        raise MalformedLine(f"guarantee_timestamp is not an integer: {str(gt)[:40]!r}") from err
    return SlowRequest(
        kind=kind,  # type: ignore[arg-type]
        duration_s=duration_s,
        time=when,
        trace_id=e.get("trace_id") or None,
        role=e.get("role") or None,
        db=e.get("database") or None,
        collection=e.get("collection") or None,
        partitions=_csv(e.get("partitions")),
        dsl=dsl,
        nq=nq,
        topk=topk,
        metric_type=metric,
        anns_field=anns,
        search_params=params,
        output_fields=_csv(qp.get("output_fields")),
        consistency_level=e.get("consistency_level") or None,
        use_default_consistency=bool(e.get("use_default_consistency", False)),
        guarantee_timestamp=guarantee,
        fmt="api",
        raw=raw[:RAW_KEEP],
        dsls=dsls if kind == "hybrid_search" else [],
    )


def parse_kv_params(text: str) -> dict[str, str]:
    """`topk=10,metric_type=L2,params={"nprobe":16,"x":1}` -> dict, splitting only at top-level commas.

    The proxy joins the KeyValuePairs as key=value with ','; the `params` value is JSON and has
    commas of its own, so brackets and quotes are tracked.
    """
    out: dict[str, str] = {}
    depth, quoted, escaped, start = 0, False, False, 0
    for i, ch in enumerate(text + ","):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            part = text[start:i]
            start = i + 1
            if "=" in part:
                k, v = part.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def _time(v: Any) -> datetime:
    if not v:
        raise MalformedLine("slow query entry without time")
    t = str(v).strip()
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = datetime.strptime(t, "%Y/%m/%d %H:%M:%S.%f %z")
        except ValueError as e:
            raise MalformedLine(f"bad time {t[:40]!r}") from e
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _first(v: Any) -> str:
    if isinstance(v, list):
        return str(v[0]) if v else ""
    return "" if v is None else str(v)


def _csv(v: Any) -> list[str]:
    if isinstance(v, list):
        return [str(x) for x in v if str(x)]
    return [x.strip() for x in str(v or "").split(",") if x.strip()]


def _is_int(v: Any) -> bool:
    try:
        int(v)
    except (TypeError, ValueError):
        return False
    return not isinstance(v, bool)
