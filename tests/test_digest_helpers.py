"""Builders of Milvus slow-request log lines for the digest tests, in Milvus's own layouts.

Text lines follow zap's text encoder (`[time] [LEVEL] [caller] ["message"] [key=value]...`, values
quoted JSON-style when they hold a space or any of `\\ " [ ] =`); JSON lines follow zap's JSON
encoder key order. Field sets: 2.3 (no ConsistencyLevel, no durationPerNq) and 2.6 (both).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

# The Go Duration.String() writer the demo uses for its synthetic slow lines.
from bot.demo.slowlog import go_duration as go_duration

BASE = datetime(2026, 11, 24, 15, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def zap_time(t: datetime) -> str:
    return t.strftime("%Y/%m/%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} +00:00"


def zap_value(v: str) -> str:
    if v == "" or not any(c <= " " or c in '\\"[]=' for c in v):
        return v
    return json.dumps(v, ensure_ascii=False)


def search_params(topk: int = 10, params: dict | None = None, metric: str = "L2", anns: str = "vec") -> list[dict]:
    return [{"key": "topk", "value": str(topk)}, {"key": "params", "value": json.dumps(params or {"nprobe": 16})},
            {"key": "round_decimal", "value": "-1"}, {"key": "ignore_growing", "value": "False"},
            {"key": "metric_type", "value": metric}, {"key": "anns_field", "value": anns}]


def search_text(t: datetime, duration: float, *, collection: str = "products", dsl: str = "", nq: int = 1,
                topk: int = 10, params: dict | None = None, version: str = "2.3", trace: str = "t1",
                gts: int = 1, output: str = "[id]") -> str:
    sp = json.dumps(search_params(topk, params), separators=(",", ":"))
    fields = [("traceID", trace), ("role", "proxy"), ("db", "default"), ("collection", collection),
              ("partitions", "[]"), ("dsl", dsl), ("len(PlaceholderGroup)", str(524 * nq)),
              ("OutputFields", output), ("search_params", sp)]
    if version == "2.6":
        fields += [("ConsistencyLevel", "Strong"), ("useDefaultConsistency", "true")]
    fields += [("guarantee_timestamp", str(gts)), ("nq", str(nq)), ("duration", go_duration(duration))]
    if version == "2.6":
        fields.append(("durationPerNq", go_duration(duration / nq)))
    caller = "proxy/impl.go:3084" if version == "2.6" else "proxy/impl.go:2578"
    body = " ".join(f"[{k}={zap_value(v)}]" for k, v in fields)
    return f'[{zap_time(t)}] [INFO] [{caller}] ["Search slow"] {body}'


def search_json(t: datetime, duration: float, *, collection: str = "products", dsl: str = "", nq: int = 1,
                topk: int = 10, params: dict | None = None, trace: str = "j1") -> str:
    obj = {"level": "INFO", "time": zap_time(t), "caller": "proxy/impl.go:3084", "message": "Search slow",
           "traceID": trace, "role": "proxy", "db": "default", "collection": collection, "partitions": [],
           "dsl": dsl, "len(PlaceholderGroup)": 524 * nq, "OutputFields": ["id"],
           "search_params": search_params(topk, params), "ConsistencyLevel": "Strong",
           "useDefaultConsistency": True, "guarantee_timestamp": 460318735832711168, "nq": nq,
           "duration": go_duration(duration), "durationPerNq": go_duration(duration / nq)}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))  # zap writes no spaces


def query_text(t: datetime, duration: float, *, collection: str = "products", expr: str = "",
               trace: str = "q1") -> str:
    fields = [("traceID", trace), ("role", "proxy"), ("db", "default"), ("collection", collection),
              ("partitions", "[]"), ("expr", expr), ("OutputFields", "[*]"), ("travel_timestamp", "0"),
              ("guarantee_timestamp", "0"), ("duration", go_duration(duration))]
    body = " ".join(f"[{k}={zap_value(v)}]" for k, v in fields)
    return f'[{zap_time(t)}] [INFO] [proxy/impl.go:2839] ["Query slow"] {body}'


def ordinary(t: datetime, i: int = 0) -> str:
    return (f'[{zap_time(t)}] [INFO] [querycoordv2/observers/target_observer.go:420] '
            f'["observer trigger update next target"] [collectionID=44600000000000{i % 10}]')


def nearest_rank(values: list[float], q: float) -> float:
    """The exact nearest-rank quantile the digest's sketch approximates."""
    import math

    s = sorted(values)
    return s[max(1, math.ceil(q * len(s) - 1e-9)) - 1]


def vm_ratio(values: list[float]) -> float:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return var / mean
