"""Parser for Milvus slow-request log lines: `Search slow`, `Query slow`, `HybridSearch slow`.

Both of Milvus's log formats (`log.format: text` and `json`) and the field sets of every version
(2.3: no ConsistencyLevel/durationPerNq; 2.5.13+: durationPerNq; 2.6.9+: HybridSearch totalNq) are
read. Every field is optional but the message and the duration.

The scanner (`scan_slow_lines`) works on bytes in large chunks and only looks at lines that contain
`slow"`, so ordinary INFO lines cost one `bytes.find` over the chunk and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from bot.models import SlowRequest

# What marks a candidate line in both formats: text `["Search slow"]`, JSON `"message":"Search slow"`.
PREFILTER = b'slow"'
RAW_KEEP = 4096  # bytes of the original line kept for "worst sample"
MAX_LINE = 8 << 20  # a single line longer than this is skipped (counted as malformed), memory stays flat

_KINDS = {"Search slow": "search", "Query slow": "query", "HybridSearch slow": "hybrid_search"}

_HEADER = re.compile(
    r'^\[(?P<time>[^\]]*)\] \[(?P<level>[A-Z]+)\] \[(?P<caller>[^\]]*)\] \["(?P<msg>(?:[^"\\]|\\.)*)"\]'
)
_FIELD = re.compile(r'\[([^=\]"]+)=("(?:[^"\\]|\\.)*"|[^\]]*)\]')
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_FULL = re.compile(r"^-?(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))+$")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_HYBRID_EXPR = re.compile(r"\[No\.\d+ req, expr: (.*?)\](?=\[No\.\d+ req|$)", re.S)


class MalformedLine(ValueError):
    """A line that claims to be a slow-request line but cannot be read."""


def parse_duration(text: str) -> float:
    """Go `time.Duration.String()` -> seconds: '5m12.002784545s', '1.2s', '850ms', '3µs', '0s'."""
    t = text.strip()
    if not _DURATION_FULL.match(t):
        raise MalformedLine(f"not a duration: {text[:60]!r}")
    sign = -1.0 if t.startswith("-") else 1.0
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(t))


def parse_log_time(text: str) -> datetime:
    """Milvus's log time layout `2006/01/02 15:04:05.000 -07:00` (also accepts ISO 8601)."""
    t = text.strip()
    try:
        return datetime.strptime(t, "%Y/%m/%d %H:%M:%S.%f %z")
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as e:
        raise MalformedLine(f"bad time {text[:40]!r}") from e
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def is_candidate(line: bytes | str) -> bool:
    return (PREFILTER in line) if isinstance(line, bytes) else ('slow"' in line)


def parse_slow_line(line: bytes | str) -> SlowRequest | None:
    """One log line -> SlowRequest; None if it is not a slow-request line (e.g. "the gc is slow").

    Raises MalformedLine when the line is a slow-request line whose fields cannot be read.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    s = line.strip()
    if not s:
        return None
    if s.startswith("{"):
        return _parse_json(s)
    return _parse_text(s)


def _parse_text(s: str) -> SlowRequest | None:
    m = _HEADER.match(s)
    if not m:
        # Not a Milvus text line at all, unless it mentions a slow-request message: then it is damaged.
        if any(f'"{k}"' in s for k in _KINDS):
            raise MalformedLine("slow-request message without a Milvus log header")
        return None
    kind = _KINDS.get(m.group("msg"))
    if kind is None:
        return None
    fields: dict[str, Any] = {}
    for fm in _FIELD.finditer(s, m.end()):
        key, val = fm.group(1), fm.group(2)
        fields[key] = _unquote(val) if val.startswith('"') else val
    return _build(kind, m.group("time"), fields, "text", s)


def _parse_json(s: str) -> SlowRequest | None:
    try:
        obj = json.loads(s)
    except ValueError as e:
        if any(f'"{k}"' in s for k in _KINDS):
            raise MalformedLine(f"slow-request JSON line that does not parse: {e}") from e
        return None
    if not isinstance(obj, dict):
        return None
    kind = _KINDS.get(str(obj.get("message", "")))
    if kind is None:
        return None
    return _build(kind, str(obj.get("time", "")), obj, "json", s)


def _unquote(val: str) -> str:
    try:
        return json.loads(val)
    except ValueError:
        return val[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _int(v: Any) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    try:
        return int(str(v).strip())
    except ValueError:
        try:
            return int(float(str(v)))
        except ValueError as e:
            raise MalformedLine(f"not an integer: {str(v)[:40]!r}") from e


def _str_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    t = str(v).strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    return [x.strip() for x in t.split(",") if x.strip()]


def _search_params(v: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """search_params (a JSON list of {key, value}) -> (top-level keys, inner `params` dict)."""
    if v is None or v == "":
        return {}, {}
    items = v
    if isinstance(v, str):
        try:
            items = json.loads(v)
        except ValueError as e:
            raise MalformedLine("search_params is not JSON") from e
    top: dict[str, Any] = {}
    if isinstance(items, list):
        for kv in items:
            if isinstance(kv, dict) and "key" in kv:
                top[str(kv["key"])] = kv.get("value")
    elif isinstance(items, dict):
        top = dict(items)
    inner: dict[str, Any] = {}
    params = top.get("params")
    if isinstance(params, str) and params.strip().startswith("{"):
        try:
            inner = json.loads(params)
        except ValueError:
            inner = {}
    elif isinstance(params, dict):
        inner = params
    return top, inner


def _bool(v: Any) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() == "true"


def _build(kind: str, time_text: str, f: dict[str, Any], fmt: str, raw: str) -> SlowRequest:
    dur = f.get("duration")
    if dur is None or dur == "":
        raise MalformedLine("slow-request line without duration")
    duration_s = parse_duration(str(dur)) if not isinstance(dur, int | float) else float(dur) / 1e9
    per_nq = f.get("durationPerNq")
    top, inner = _search_params(f.get("search_params"))
    dsl: str
    if kind == "query":
        dsl = str(f.get("expr") or "")
    elif kind == "hybrid_search":
        dsls = str(f.get("dsls") or "")
        exprs = [e.strip() for e in _HYBRID_EXPR.findall(dsls)]
        dsl = " ||| ".join(e for e in exprs if e) if exprs else dsls
    else:
        dsl = str(f.get("dsl") or "")
    nq = _int(f.get("nq")) if "nq" in f else _int(f.get("totalNq"))
    metric = inner.get("metric_type") or top.get("metric_type")
    params = {k: v for k, v in inner.items() if k != "metric_type"}
    return SlowRequest(
        kind=kind,  # type: ignore[arg-type]
        duration_s=duration_s,
        time=parse_log_time(time_text) if time_text else None,
        trace_id=_opt_str(f.get("traceID")),
        role=_opt_str(f.get("role")),
        db=_opt_str(f.get("db")),
        collection=_opt_str(f.get("collection")),
        partitions=_str_list(f.get("partitions")),
        dsl=dsl,
        nq=nq,
        topk=_int(top.get("topk")),
        metric_type=_opt_str(metric),
        anns_field=_opt_str(top.get("anns_field")),
        search_params=params,
        output_fields=_str_list(f.get("OutputFields")),
        consistency_level=_opt_str(f.get("ConsistencyLevel")),
        use_default_consistency=_bool(f.get("useDefaultConsistency")),
        guarantee_timestamp=_int(f.get("guarantee_timestamp")),
        duration_per_nq_s=(parse_duration(str(per_nq)) if per_nq not in (None, "") else None),
        placeholder_bytes=_int(f.get("len(PlaceholderGroup)")),
        fmt=fmt,  # type: ignore[arg-type]
        raw=raw[:RAW_KEEP],
    )


def _opt_str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return str(v)


class ScanStats:
    """Counts kept while scanning: all lines read, candidates, overlong lines skipped."""

    __slots__ = ("candidates", "lines", "overlong")

    def __init__(self) -> None:
        self.lines = 0
        self.candidates = 0
        self.overlong = 0


def scan_slow_lines(stream: BinaryIO, stats: ScanStats | None = None,
                    chunk_size: int = 4 << 20) -> Iterator[bytes]:
    """Yield the lines of a binary stream that contain `slow"`, reading in chunks.

    Memory is bounded by chunk_size + MAX_LINE whatever the file size. Lines longer than
    MAX_LINE are skipped and counted in stats.overlong.
    """
    st = stats if stats is not None else ScanStats()
    tail = b""
    skipping = False  # inside an overlong line, discarding until its newline
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        if skipping:
            nl = chunk.find(b"\n")
            if nl == -1:
                continue
            chunk = chunk[nl + 1:]
            st.lines += 1
            skipping = False
        buf = tail + chunk if tail else chunk
        last_nl = buf.rfind(b"\n")
        if last_nl == -1:
            if len(buf) > MAX_LINE:
                st.overlong += 1
                tail = b""
                skipping = True
            else:
                tail = buf
            continue
        body = buf[: last_nl + 1]
        tail = buf[last_nl + 1:]
        if len(tail) > MAX_LINE:
            st.overlong += 1
            tail = b""
            skipping = True
        st.lines += body.count(b"\n")
        yield from _candidates(body, st)
    if tail and not skipping:
        st.lines += 1
        yield from _candidates(tail + b"\n", st)


def _candidates(body: bytes, st: ScanStats) -> Iterator[bytes]:
    pos = 0
    find = body.find
    while True:
        i = find(PREFILTER, pos)
        if i == -1:
            return
        start = body.rfind(b"\n", 0, i) + 1
        end = find(b"\n", i)
        line = body[start:end]
        if len(line) > MAX_LINE:
            st.overlong += 1
        else:
            st.candidates += 1
            yield line
        pos = end + 1
