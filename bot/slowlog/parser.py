"""Parser for Milvus slow-request log lines: `Search slow`, `Query slow`, `HybridSearch slow`.

Both of Milvus's log formats (`log.format: text` and `json`) and the field sets of every version
(2.3: no ConsistencyLevel/durationPerNq; 2.5.13+: durationPerNq; 2.6.9+: HybridSearch totalNq) are
read. Every field is optional but the message, the time and the duration.

The scanner (`scan_slow_lines`) works on bytes in large chunks and only looks at lines that contain
`slow"`, so ordinary INFO lines cost one substring search over the chunk and nothing else. The
search uses libc's memmem through ctypes when it is there (about 3x faster than `bytes.find` for a
5-byte needle) and the line count uses numpy when it is importable (2x faster than `bytes.count`).
Both fall back to the plain Python call.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, BinaryIO

from bot.slowlog.accel import speedups
from bot.slowlog.request import SlowRequest

# What marks a candidate line in both formats: text `["Search slow"]`, JSON `"message":"Search slow"`.
PREFILTER = b'slow"'
RAW_KEEP = 4096  # characters of the original line kept for "worst sample"
MAX_LINE = 8 << 20  # a single line longer than this is skipped (counted as overlong), memory stays flat
CHUNK_SIZE = 1 << 20  # 1 MiB reads: large enough for memmem, small enough to stay in cache for the line count

_KINDS = {"Search slow": "search", "Query slow": "query", "HybridSearch slow": "hybrid_search"}
_QUOTED_KINDS = {f'"{k}"': v for k, v in _KINDS.items()}  # the messages as a text line writes them

# A quoted zap value, written unrolled with possessive quantifiers (Python 3.11+) so that sre never
# backtracks into it: the OR-chain dsl values are 100+ KB.
_Q = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_HEADER = re.compile(r"\[([^\]]*+)\] \[([A-Z]++)\] \[([^\]]*+)\] \[(" + _Q + r")\]")
_FIELD = re.compile(r' \[([^=\]"\[ ]++|' + _Q + r")=(" + _Q + r"|[^\]]*+)\]")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_FULL = re.compile(r"-?(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))+")
_DURATION_ONE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_HYBRID_EXPR = re.compile(r"\[No\.\d+ req, expr: (.*?)\](?=\[No\.\d+ req|$)", re.S)
_LOG_TIME = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? ([+-])(\d\d):?(\d\d)")

HYBRID_JOIN = " ||| "  # joins the sub-request filters of a HybridSearch into `SlowRequest.dsl`


class MalformedLine(ValueError):
    """A line that claims to be a slow-request line but cannot be read."""


# --------------------------------------------------------------------------- scalars


def parse_duration(text: str) -> float:
    """Go `time.Duration.String()` -> seconds: '5m12.002784545s', '1.2s', '850ms', '3µs', '0s'."""
    t = text.strip()
    # The common cases without a regex: "<d>[.<d>]s" and "<d>[.<d>]ms", checked to be exactly what
    # the one-unit regex accepts (isdecimal is \d: Unicode category Nd, which float() reads too).
    if t[-1:] == "s":
        if t[-2:] == "ms":
            num, unit = t[:-2], 1e-3
        else:
            num, unit = t[:-1], 1.0
        whole, dot, frac = num.partition(".")
        if whole.isdecimal() and (not dot or frac.isdecimal()):
            return float(num) * unit
    m = _DURATION_ONE.fullmatch(t)
    if m is not None:  # the common case: one unit
        return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if not _DURATION_FULL.fullmatch(t):
        raise MalformedLine(f"not a duration: {text[:60]!r}")
    sign = -1.0 if t.startswith("-") else 1.0
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(t))


_TZ_CACHE: dict[str, timezone] = {}


def _tz(sign: str, hh: str, mm: str) -> timezone:
    key = sign + hh + mm
    tz = _TZ_CACHE.get(key)
    if tz is None:
        delta = timedelta(hours=int(hh), minutes=int(mm))
        tz = UTC if not delta else timezone(-delta if sign == "-" else delta)
        _TZ_CACHE[key] = tz
    return tz


# Slow lines are spread over a minute more often than they share a second: cache the fields of
# each minute seen lately and fill in seconds and milliseconds by slicing the fixed layout.
_MINUTE_CACHE: dict[str, tuple[int, int, int, int, int, timezone]] = {}


def parse_log_time(text: str) -> datetime:
    """Milvus's log time layout `2006/01/02 15:04:05.000 -07:00` (also accepts ISO 8601)."""
    t = text.strip()
    if len(t) == 30 and t[19] == "." and t[23] == " " and t[16] == ":":  # the exact zap layout: the fast path
        key = t[:16] + t[23:]
        base = _MINUTE_CACHE.get(key)
        if base is None:
            d = _slow_log_time(t[:16] + ":00" + t[23:])  # validates the rest of the layout
            base = (d.year, d.month, d.day, d.hour, d.minute, d.tzinfo)  # type: ignore[assignment]
            if len(_MINUTE_CACHE) >= 4096:
                _MINUTE_CACHE.clear()
            _MINUTE_CACHE[key] = base  # type: ignore[assignment]
        ss, ms = t[17:19], t[20:23]
        if not (ss.isdecimal() and ms.isdecimal()):  # exactly what the layout regex's \d accepts
            raise MalformedLine(f"bad time {text[:40]!r}")
        y, mo, dd, h, mi, tz = base
        try:
            return datetime(y, mo, dd, h, mi, int(ss), int(ms) * 1000, tz)
        except ValueError as e:
            raise MalformedLine(f"bad time {text[:40]!r}") from e
    return _slow_log_time(t)


def _slow_log_time(t: str) -> datetime:
    m = _LOG_TIME.fullmatch(t)
    if m is not None:
        y, mo, d, h, mi, s, frac, sign, th, tm = m.groups()
        us = int((frac or "0")[:6].ljust(6, "0"))
        try:
            return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), us, tzinfo=_tz(sign, th, tm))
        except ValueError as e:
            raise MalformedLine(f"bad time {t[:40]!r}") from e
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as e:
        raise MalformedLine(f"bad time {t[:40]!r}") from e
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def peek_time(line: bytes) -> datetime | None:
    """The time of a raw log line, read without parsing the rest; None when it cannot be told cheaply.

    Lets a source drop lines outside the window before paying for a full parse.
    """
    if line[:1] == b"[":
        end = line.find(b"]", 1, 48)
        seg = line[1:end] if end > 0 else b""
    else:
        i = line.find(b'"time":"', 0, 200)
        if i < 0:
            return None
        end = line.find(b'"', i + 8, i + 60)
        seg = line[i + 8:end] if end > 0 else b""
    if not seg:
        return None
    try:
        return parse_log_time(seg.decode("ascii"))
    except (MalformedLine, UnicodeDecodeError):
        return None


def is_candidate(line: bytes | str) -> bool:
    return (PREFILTER in line) if isinstance(line, bytes) else ('slow"' in line)


# --------------------------------------------------------------------------- lines


def parse_slow_line(line: bytes | str, *, known_time: datetime | None = None) -> SlowRequest | None:
    """One log line -> SlowRequest; None if it is not a slow-request line (e.g. "the gc is slow").

    Raises MalformedLine when the line is a slow-request line whose fields cannot be read
    (no duration or time, a truncated line, a JSON line that does not parse). `known_time` is the
    line's time when the caller already read it with `peek_time` (text lines then skip re-reading it).
    """
    if isinstance(line, bytes | bytearray):
        line = bytes(line)
        if _c_text_values is not None and line[:1] == b"[":
            # What _parse_text's two regexes would find, or None: then they decide.
            got = _c_text_values(line, _TEXT_NAMES_B)
            if got is not None:
                time_text, message, values = got
                kind = _QUOTED_KINDS.get(message) or _KINDS.get(_unquote(message))
                if kind is None:
                    return None
                return _build_text(kind, time_text, values, line.decode("utf-8", errors="replace"), known_time)
        line = line.decode("utf-8", errors="replace")
    s = line.strip()
    if not s:
        return None
    if s[0] == "{":
        return _parse_json(s)
    return _parse_text(s, known_time)


# The text fields _build_text reads, in the order it unpacks them.
TEXT_NAMES = ("duration", "durationPerNq", "search_params", "dsl", "expr", "dsls", "nq", "totalNq",
              "useDefaultConsistency", "guarantee_timestamp", "len(PlaceholderGroup)", "traceID", "role", "db",
              "collection", "partitions", "OutputFields", "ConsistencyLevel")
_TEXT_NAMES_B = tuple(n.encode() for n in TEXT_NAMES)
_c_text_values: Callable[[bytes, tuple[bytes, ...]], tuple[str, str, tuple[str | None, ...]] | None] | None = (
    speedups.text_values if speedups is not None else None)


def text_values(s: str, names: tuple[str, ...] = TEXT_NAMES) -> tuple[str, str, tuple[str | None, ...]] | None:
    """(time, quoted message, the named fields' values as written or None) of a text line; None when
    the header does not match. What `_speedups.text_values` computes from the line's bytes."""
    m = _HEADER.match(s)
    if m is None:
        return None
    fields = dict(_FIELD.findall(s, m.end()))
    return m.group(1), m.group(4), tuple(map(fields.get, names))


def _parse_text(s: str, known_time: datetime | None = None) -> SlowRequest | None:
    m = _HEADER.match(s)
    if m is None:
        # Not a Milvus text line at all, unless it mentions a slow-request message: then it is damaged.
        if any(f'"{k}"' in s for k in _KINDS):
            raise MalformedLine("slow-request message without a Milvus log header")
        return None
    kind = _KINDS.get(_unquote(m.group(4)))
    if kind is None:
        return None  # "GC Tune done, and the gc is slow" and friends
    if s[-1] != "]":
        raise MalformedLine("truncated slow-request line (does not end with ']')")
    # Values stay as written (quoted or not) until _build_text asks for them: most are never unquoted.
    fields: dict[str, Any] = dict(_FIELD.findall(s, m.end()))
    return _build_text(kind, m.group(1), tuple(map(fields.get, TEXT_NAMES)), s, known_time)


def _parse_json(s: str) -> SlowRequest | None:
    try:
        obj = json.loads(s)
    except ValueError as e:
        if any(f'"{k}"' in s for k in _KINDS):
            raise MalformedLine(f"slow-request JSON line that does not parse: {e}") from e
        return None
    if not isinstance(obj, dict):
        return None
    msg = obj.get("message", obj.get("msg"))
    if msg is None and isinstance(obj.get("log"), str):
        # A container runtime's JSON envelope ({"log": "<the Milvus line>", "stream": ...}).
        return parse_slow_line(obj["log"])
    kind = _KINDS.get(str(msg))
    if kind is None:
        return None
    return _build_json(kind, str(obj.get("time") or obj.get("ts") or ""), obj, s)


def _unquote(val: str) -> str:
    """A zap-quoted value -> its text. zap escapes like JSON, so json.loads reads the escaped ones."""
    if len(val) < 2 or val[0] != '"' or val[-1] != '"':
        return val
    inner = val[1:-1]
    if "\\" not in inner:
        return inner
    if inner.count("\\") == inner.count('\\"'):
        # Every backslash escapes a quote (filters with string literals): what json.loads would return.
        return inner.replace('\\"', '"')
    if len(val) <= 512:
        hit = _UNQUOTE_CACHE.get(val)
        if hit is not None:
            return hit
    try:
        out = json.loads(val)
        out = out if isinstance(out, str) else inner
    except ValueError:
        out = inner.replace('\\"', '"').replace("\\\\", "\\")
    if len(val) <= 512:
        if len(_UNQUOTE_CACHE) >= 4096:
            _UNQUOTE_CACHE.clear()
        _UNQUOTE_CACHE[val] = out
    return out


# Filters repeat with the request shape; short ones are cached by their quoted form.
_UNQUOTE_CACHE: dict[str, str] = {}


def _int(v: Any, name: str) -> int | None:
    if v is None or v == "":
        return None
    if type(v) is int:
        return v
    if isinstance(v, bool):
        return int(v)
    t = str(v).strip()
    try:
        return int(t)  # exact, also above 2^53 (guarantee_timestamp)
    except ValueError:
        pass
    try:
        f = float(t)
    except ValueError as e:
        raise MalformedLine(f"{name} is not an integer: {t[:40]!r}") from e
    if f != f or f in (float("inf"), float("-inf")):
        raise MalformedLine(f"{name} is not an integer: {t[:40]!r}")
    return int(f)


def _str_list(v: Any) -> list[str]:
    if v is None or v == "" or v == "[]":
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    t = str(v).strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    return [x.strip() for x in t.split(",") if x.strip()]


# search_params is the same string for every request of one shape: parse each distinct one once.
_SP_CACHE: dict[Any, tuple[int | None, str | None, str | None, dict[str, Any]]] = {}
_SP_CACHE_MAX = 1024
_chain = itertools.chain.from_iterable


def _search_params(v: Any) -> tuple[int | None, str | None, str | None, dict[str, Any]]:
    """search_params (a JSON list of {key, value}) -> (topk, metric_type, anns_field, inner params).

    The inner params (nprobe, ef, search_list, ...) are a fresh dict the caller may keep.
    An unreadable value yields empties: the rest of the line is still worth having.
    """
    if v is None or v == "" or v == []:
        return None, None, None, {}
    if isinstance(v, str):
        key: Any = v
        hit = _SP_CACHE.get(key)
    elif type(v) is list:
        # A JSON line's decoded list of {key, value} objects: keyed by its items, built in C. Only
        # all-string items are stored (what zap writes): 1 == True == 1.0 would make other keys
        # equal. A str never equals a non-str, so a key equal to a stored one is all strings too:
        # the check runs on a miss only.
        try:
            key = tuple(map(tuple, map(dict.items, v)))
            hit = _SP_CACHE.get(key)
        except TypeError:  # not all dicts, or unhashable values: read it every time
            return _read_search_params(v)
        if hit is None:
            try:
                "".join(_chain(_chain(key)))  # TypeError unless every key and value is a str
            except TypeError:
                return _read_search_params(v)
    else:
        return _read_search_params(v)
    if hit is None:
        hit = _read_search_params(v)
        if len(_SP_CACHE) >= _SP_CACHE_MAX:
            _SP_CACHE.clear()
        _SP_CACHE[key] = hit
    return hit[0], hit[1], hit[2], dict(hit[3])


def _read_search_params(v: Any) -> tuple[int | None, str | None, str | None, dict[str, Any]]:
    items = v
    if isinstance(v, str):
        try:
            items = json.loads(_unquote(v))
        except ValueError:
            return None, None, None, {}
    top: dict[str, Any] = {}
    if isinstance(items, list):
        for kv in items:
            if isinstance(kv, dict) and "key" in kv:
                top[str(kv["key"])] = kv.get("value")
    elif isinstance(items, dict):
        top = dict(items)
    return split_search_params(top)


def split_search_params(top: dict[str, Any]) -> tuple[int | None, str | None, str | None, dict[str, Any]]:
    """Top-level search keys -> (topk, metric_type, anns_field, inner params without metric_type)."""
    inner: dict[str, Any] = {}
    params = top.get("params")
    if isinstance(params, str) and params.strip().startswith("{"):
        try:
            loaded = json.loads(params)
            inner = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            inner = {}
    elif isinstance(params, dict):
        inner = dict(params)
    metric = inner.pop("metric_type", None) or top.get("metric_type")
    try:
        topk = _int(top.get("topk", top.get("limit")), "topk")
    except MalformedLine:
        topk = None
    anns = top.get("anns_field")
    return topk, (str(metric) if metric else None), (str(anns) if anns else None), inner


def _bool(v: Any) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() == "true"


def _opt_str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return v if type(v) is str else str(v)


def _duration(v: Any, name: str) -> float:
    if isinstance(v, bool):
        raise MalformedLine(f"{name} is not a duration")
    if isinstance(v, int):
        return v / 1e9  # zap's nanosecond encoder
    if isinstance(v, float):
        return v  # zap's seconds encoder
    return parse_duration(str(v))


def hybrid_exprs(dsls: str) -> list[str]:
    """`[No.0 req, expr: a][No.1 req, expr: ]` -> ['a', '']."""
    return [e.strip() for e in _HYBRID_EXPR.findall(dsls)]


def _build_json(kind: str, time_text: str, f: dict[str, Any], raw: str) -> SlowRequest:
    """A decoded JSON line -> SlowRequest. The common value types (what zap writes) are handled
    inline; anything else goes through the general helpers (_opt_str, _int, _str_list, ...)."""
    get = f.get
    dur = get("duration")
    if dur is None or dur == "":
        raise MalformedLine("slow-request line without duration")
    if not time_text:
        raise MalformedLine("slow-request line without time")
    duration_s = parse_duration(dur) if type(dur) is str else _duration(dur, "duration")
    topk, metric, anns, params = _search_params(get("search_params"))
    dsls: list[str] = []
    if kind == "search":
        dsl = get("dsl") or ""
    elif kind == "query":
        dsl = get("expr") or ""
    else:
        raw_dsls = get("dsls") or ""
        dsls = [str(x) for x in raw_dsls] if isinstance(raw_dsls, list) else hybrid_exprs(str(raw_dsls))
        dsl = HYBRID_JOIN.join(e for e in dsls if e) if dsls else str(raw_dsls)
    nq = get("nq")
    if nq is None:
        nq = get("totalNq")
    per_nq = get("durationPerNq")
    trace, role, db, coll, level = (get("traceID"), get("role"), get("db"), get("collection"),
                                    get("ConsistencyLevel"))
    parts, outs = get("partitions"), get("OutputFields")
    udc, gts, ph = get("useDefaultConsistency"), get("guarantee_timestamp"), get("len(PlaceholderGroup)")
    return _new_request(
        kind,
        duration_s,
        parse_log_time(time_text),
        trace if type(trace) is str and trace else _opt_str(trace),
        role if type(role) is str and role else _opt_str(role),
        db if type(db) is str and db else _opt_str(db),
        coll if type(coll) is str and coll else _opt_str(coll),
        [] if parts == [] else _str_list(parts),
        dsl if type(dsl) is str else str(dsl),
        nq if type(nq) is int else _int(nq, "nq"),
        topk,
        metric,
        anns,
        params,
        _str_list(outs),
        level if type(level) is str and level else _opt_str(level),
        udc if type(udc) is bool else _bool(udc),
        gts if type(gts) is int else _int(gts, "guarantee_timestamp"),
        (None if per_nq is None or per_nq == "" else
         parse_duration(per_nq) if type(per_nq) is str else _duration(per_nq, "durationPerNq")),
        ph if type(ph) is int else _int(ph, "len(PlaceholderGroup)"),
        "json",
        raw if len(raw) <= RAW_KEEP else raw[:RAW_KEEP],
        dsls,
    )


def _tx(v: str | None) -> str | None:
    """Text-format value -> str or None (unquoted when zap quoted it)."""
    if not v:
        return None
    return _unquote(v) if v[0] == '"' else v


def _tint(v: str | None, name: str) -> int | None:
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        return _int(_unquote(v), name)


# SlowRequest's fields in declaration order: building it positionally costs a fifth of keywords
# (23 keyword arguments are ~3 µs a line). If the model ever reorders them, keywords are used.
_ORDER = ("kind", "duration_s", "time", "trace_id", "role", "db", "collection", "partitions", "dsl", "nq",
          "topk", "metric_type", "anns_field", "search_params", "output_fields", "consistency_level",
          "use_default_consistency", "guarantee_timestamp", "duration_per_nq_s", "placeholder_bytes", "fmt",
          "raw", "dsls")


def _by_keyword(*values: Any) -> SlowRequest:
    return SlowRequest(**dict(zip(_ORDER, values, strict=True)))


_new_request: Callable[..., SlowRequest] = (
    SlowRequest if tuple(f.name for f in dataclasses.fields(SlowRequest))[:len(_ORDER)] == _ORDER
    else _by_keyword)

# Text list values (`partitions="[]"`, `OutputFields="[id,color]"`) repeat with the request shape.
_LIST_CACHE: dict[str, tuple[str, ...]] = {}


def _text_list(v: str | None) -> list[str]:
    if not v or v == '"[]"':
        return []
    hit = _LIST_CACHE.get(v)
    if hit is None:
        hit = tuple(_str_list(_tx(v)))
        if len(_LIST_CACHE) >= 1024:
            _LIST_CACHE.clear()
        _LIST_CACHE[v] = hit
    return list(hit)


def _build_text(kind: str, time_text: str, values: tuple[str | None, ...], raw: str,
                known_time: datetime | None = None) -> SlowRequest:
    """A text line's TEXT_NAMES values (as written, quoted or not; None if absent) -> SlowRequest.
    Values are unquoted only when they are quoted, which most never are."""
    (dur, per_nq, sp, dsl, expr, raw_dsls, nq, total_nq, udc, gts, ph, trace, role, db, coll, parts, outs,
     level) = values
    if not dur:
        raise MalformedLine("slow-request line without duration")
    if not time_text:
        raise MalformedLine("slow-request line without time")
    topk, metric, anns, params = _search_params(sp)
    dsls: list[str] = []
    if kind == "search":
        dsl = (_unquote(dsl) if dsl[0] == '"' else dsl) if dsl else ""
    elif kind == "query":
        dsl = (_unquote(expr) if expr[0] == '"' else expr) if expr else ""
    else:
        joined = _tx(raw_dsls) or ""
        dsls = hybrid_exprs(joined)
        dsl = HYBRID_JOIN.join(e for e in dsls if e) if dsls else joined
    nq = nq or total_nq
    return _new_request(
        kind,
        parse_duration(dur if dur[0] != '"' else _unquote(dur)),
        known_time or parse_log_time(time_text),
        trace if trace and trace[0] != '"' else _tx(trace),
        role if role and role[0] != '"' else _tx(role),
        db if db and db[0] != '"' else _tx(db),
        coll if coll and coll[0] != '"' else _tx(coll),
        _text_list(parts),
        dsl,
        int(nq) if nq and nq.isdigit() and nq.isascii() else _tint(nq, "nq"),
        topk,
        metric,
        anns,
        params,
        _text_list(outs),
        level if level and level[0] != '"' else _tx(level),
        None if not udc else udc.lower() == "true",
        int(gts) if gts and gts.isdigit() and gts.isascii() else _tint(gts, "guarantee_timestamp"),
        parse_duration(_tx(per_nq) or "") if per_nq else None,
        int(ph) if ph and ph.isdigit() and ph.isascii() else _tint(ph, "len(PlaceholderGroup)"),
        "text",
        raw if len(raw) <= RAW_KEEP else raw[:RAW_KEEP],
        dsls,
    )


# --------------------------------------------------------------------------- scanning


class ScanStats:
    """Counts kept while scanning: all lines read, candidates, overlong lines skipped, bytes read."""

    __slots__ = ("bytes", "candidates", "lines", "overlong")

    def __init__(self) -> None:
        self.lines = 0
        self.candidates = 0
        self.overlong = 0
        self.bytes = 0


def _memmem_finder() -> Callable[[bytes, bytes, int, int], Iterator[int]] | None:
    """libc memmem through ctypes (it releases the GIL, too); None where there is no such libc."""
    try:
        libc = ctypes.CDLL(None)
        fn = libc.memmem
    except (OSError, AttributeError, TypeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    as_void = ctypes.c_void_p

    def hits(buf: bytes, needle: bytes, start: int, end: int) -> Iterator[int]:
        holder = ctypes.c_char_p(buf)  # points into buf's own storage, no copy; buf is kept alive by the caller
        base = ctypes.cast(holder, as_void).value or 0
        n = len(needle)
        pos = start
        while end - pos >= n:
            r = fn(base + pos, end - pos, needle, n)
            if not r:
                return
            i = r - base
            pos = yield i  # the caller sends where to go on from (the end of the line)
            if pos is None:
                pos = i + 1

    # Check it once against bytes.find before trusting it.
    sample = b'x\n[a] ["Search slow"] y\nslow"\n' * 3
    try:
        got = _drive(hits, sample, PREFILTER, 0, len(sample))
    except (OSError, ValueError, ctypes.ArgumentError):
        return None
    want = _drive(_py_hits, sample, PREFILTER, 0, len(sample))
    return hits if got == want else None


def _py_hits(buf: bytes, needle: bytes, start: int, end: int) -> Iterator[int]:
    find = buf.find
    pos = start
    while True:
        i = find(needle, pos, end)
        if i < 0:
            return
        pos = yield i
        if pos is None:
            pos = i + 1


def _drive(gen_fn: Callable[[bytes, bytes, int, int], Iterator[int]], buf: bytes, needle: bytes,
           start: int, end: int) -> list[int]:
    return list(gen_fn(buf, needle, start, end))


NUMPY_AFTER = 48 << 20  # bytes counted with bytes.count before numpy is worth its ~40 ms import


def _newline_counter() -> Callable[[bytes], int]:
    """bytes.count (3.5 GB/s here) for the first NUMPY_AFTER bytes, then numpy (13 GB/s) if importable:
    small inputs do not pay numpy's import, large ones get the faster count."""
    seen = 0
    fast: Callable[[bytes], int] | None = None

    def count(b: bytes) -> int:
        nonlocal seen, fast
        if fast is not None:
            return fast(b) if len(b) >= 65536 else b.count(b"\n")
        seen += len(b)
        if seen > NUMPY_AFTER:
            fast = _numpy_count() or _count_nl_bytes
        return b.count(b"\n")

    return count


def _count_nl_bytes(b: bytes) -> int:
    return b.count(b"\n")


def _numpy_count() -> Callable[[bytes], int] | None:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with matplotlib
        return None
    frombuffer, count_nonzero, u8 = np.frombuffer, np.count_nonzero, np.uint8

    def count(b: bytes) -> int:
        return int(count_nonzero(frombuffer(b, dtype=u8) == 10))

    return count


_HITS: Callable[[bytes, bytes, int, int], Iterator[int]] | None = None
_COUNT_NL: Callable[[bytes], int] | None = None


def _accelerators() -> tuple[Callable[[bytes, bytes, int, int], Iterator[int]], Callable[[bytes], int]]:
    global _HITS, _COUNT_NL
    if _HITS is None or _COUNT_NL is None:
        # With the extension, find_lines does the search: no need to probe libc's memmem.
        _HITS = _py_hits if speedups is not None else (_memmem_finder() or _py_hits)
        _COUNT_NL = speedups.count_newlines if speedups is not None else _newline_counter()
    return _HITS, _COUNT_NL


def scan_slow_lines(stream: BinaryIO, stats: ScanStats | None = None,
                    chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the lines of a binary stream that contain `slow"`, reading in chunks.

    Memory is bounded by chunk_size + MAX_LINE whatever the file size. Lines longer than
    MAX_LINE are skipped and counted in stats.overlong. Only the partial line at a chunk's end
    is copied; everything else is searched in place.
    """
    st = stats if stats is not None else ScanStats()
    hits_fn, count_nl = _accelerators()
    find_lines = speedups.find_lines if speedups is not None else None
    read = stream.read
    tail = b""  # the unfinished line carried over from the previous chunk
    skipping = False  # inside an overlong line, discarding until its newline
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        st.bytes += len(chunk)
        first_nl = chunk.find(b"\n")
        if first_nl == -1:  # no line ends here
            if not skipping:
                tail += chunk
                if len(tail) > MAX_LINE:
                    st.overlong += 1
                    tail, skipping = b"", True
            continue
        st.lines += count_nl(chunk)
        body_start = 0
        if skipping:  # the overlong line ends at first_nl
            skipping = False
            body_start = first_nl + 1
        elif tail:  # the line that straddles the chunk boundary
            line = tail + chunk[:first_nl]
            body_start = first_nl + 1
            if len(line) > MAX_LINE:
                st.overlong += 1
            elif PREFILTER in line:
                st.candidates += 1
                yield line
        tail = b""
        last_nl = chunk.rfind(b"\n")
        if body_start <= last_nl:
            if find_lines is not None:
                found, overlong = find_lines(chunk, body_start, last_nl, PREFILTER, MAX_LINE)
                st.candidates += len(found)
                st.overlong += overlong
                yield from found
            else:
                yield from _candidates(chunk, body_start, last_nl, st, hits_fn)
        rest = len(chunk) - last_nl - 1
        if rest:
            if rest > MAX_LINE:
                st.overlong += 1
                skipping = True
            else:
                tail = chunk[last_nl + 1:]
    if tail and not skipping:
        st.lines += 1
        if PREFILTER in tail:
            st.candidates += 1
            yield tail
    elif skipping:
        st.lines += 1


def _candidates(buf: bytes, start: int, end: int, st: ScanStats,
                hits_fn: Callable[[bytes, bytes, int, int], Iterator[int]]) -> Iterator[bytes]:
    """Lines of buf[start:end] (end is a newline) that contain PREFILTER."""
    rfind, find = buf.rfind, buf.find
    gen = hits_fn(buf, PREFILTER, start, end)
    try:
        i = next(gen)
        while True:
            ls = rfind(b"\n", start, i) + 1 or start
            le = find(b"\n", i, end + 1)
            if le - ls > MAX_LINE:
                st.overlong += 1
            else:
                st.candidates += 1
                yield buf[ls:le]
            i = gen.send(le + 1)
    except StopIteration:
        return
