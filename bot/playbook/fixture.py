"""Build an Evidence object from a playbook-test fixture (plain YAML), like promtool's input series.

    signals:   {queue_p99: 3900, nq_per_request: {value: 4800, baseline: 1}, scalar_filter_p99: {unavailable: "no data"}}
    slowlog:   {lines: [raw log lines], requests: [{nq: 8192, duration: 9.5s}], shapes: [...], slow_lines: 29}
    milvus:    {server_version: v2.3.5-lite, collections: [CollectionFacts as YAML]}
    missing:   [{source: metrics, what: Prometheus, reason: connection refused}]

Omitting `slowlog` or `milvus` means that source was not available (as when it is not configured).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.digest.model import Digest, FilterAnalysis, ShapeStats
from bot.models import (
    CollectionFacts,
    Evidence,
    MilvusEvidence,
    Missing,
    SignalValue,
    SlowLogEvidence,
    SlowRequest,
    TimeWindow,
)
from bot.slowlog.parser import MalformedLine, parse_duration, parse_slow_line
from bot.timewindow import parse_duration as parse_window

FIXED_END = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # fixtures are timeless; one end time keeps them reproducible


class FixtureError(ValueError):
    """A fixture that cannot be turned into evidence; the message names the field."""


def _seconds(v: Any, where: str) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    try:
        return parse_duration(str(v))
    except MalformedLine as e:
        raise FixtureError(f"{where}: {v!r} is not a duration like 9.5s or 850ms") from e


def window_of(spec: dict[str, Any]) -> TimeWindow:
    length = parse_window(str(spec.get("window", "30m")))
    return TimeWindow(start=FIXED_END - length, end=FIXED_END)


def build_signals(raw: dict[str, Any], units: dict[str, str], titles: dict[str, str]) -> dict[str, SignalValue]:
    out: dict[str, SignalValue] = {}
    for name, v in (raw or {}).items():
        if name not in units:
            raise FixtureError(f"signals: unknown signal {name!r}")
        spec = v if isinstance(v, dict) else {"value": v}
        unknown = set(spec) - {"value", "baseline", "unavailable", "baseline_unavailable", "variant", "by"}
        if unknown:
            raise FixtureError(f"signals.{name}: unknown key(s) {', '.join(sorted(unknown))}")
        value = spec.get("value")
        if value is None and not spec.get("unavailable"):
            raise FixtureError(f"signals.{name}: give a value or an 'unavailable' reason")
        out[name] = SignalValue(
            name=name, title=titles.get(name, name), unit=units[name],  # type: ignore[arg-type]
            value=None if value is None else float(value),
            baseline=None if spec.get("baseline") is None else float(spec["baseline"]),
            unavailable=spec.get("unavailable"),
            baseline_unavailable=spec.get("baseline_unavailable") or (None if "baseline" in spec else "no baseline in fixture"),
            variant=spec.get("variant"), by={str(k): float(x) for k, x in (spec.get("by") or {}).items()},
        )
    return out


def _request(spec: dict[str, Any], where: str) -> SlowRequest:
    allowed = {"kind", "duration", "nq", "topk", "collection", "dsl", "consistency_level", "params", "time",
               "duration_per_nq", "metric_type", "anns_field", "guarantee_timestamp", "db"}
    unknown = set(spec) - allowed
    if unknown:
        raise FixtureError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "duration" not in spec:
        raise FixtureError(f"{where}: a request needs a duration")
    t = spec.get("time")
    return SlowRequest(
        kind=spec.get("kind", "search"), duration_s=_seconds(spec["duration"], f"{where}.duration"),
        time=datetime.fromisoformat(str(t)) if t else None, collection=spec.get("collection"),
        db=spec.get("db", "default"), dsl=str(spec.get("dsl", "")), nq=spec.get("nq"), topk=spec.get("topk"),
        consistency_level=spec.get("consistency_level"), search_params=dict(spec.get("params") or {}),
        metric_type=spec.get("metric_type"), anns_field=spec.get("anns_field"),
        guarantee_timestamp=spec.get("guarantee_timestamp"),
        duration_per_nq_s=_seconds(spec["duration_per_nq"], f"{where}.duration_per_nq") if "duration_per_nq" in spec else None,
    )


def _nq_bucket(nq: int | None) -> str:
    n = nq or 1
    for limit, label in ((1, "1"), (10, "2-10"), (100, "11-100"), (1000, "101-1000")):
        if n <= limit:
            return label
    return "1001+"


def _shape(spec: dict[str, Any], i: int) -> ShapeStats:
    allowed = {"collection", "count", "total_s", "max_s", "p50_s", "share", "dsl", "filter_shape", "nq", "topk",
               "params", "consistency_level", "metric_type", "fields", "or_chains", "or_chain_values", "json_paths",
               "json_fields", "unindexed_fields", "leading_wildcard_like", "rewritten", "kind", "per_nq_p50_s"}
    unknown = set(spec) - allowed
    if unknown:
        raise FixtureError(f"slowlog.shapes[{i}]: unknown key(s) {', '.join(sorted(unknown))}")
    count = int(spec.get("count", 1))
    max_s = float(spec.get("max_s", 6.0))
    dsl = str(spec.get("dsl", ""))
    worst = SlowRequest(kind=spec.get("kind", "search"), duration_s=max_s, collection=spec.get("collection"),
                        dsl=dsl, nq=spec.get("nq", 1), topk=spec.get("topk"),
                        search_params=dict(spec.get("params") or {}), consistency_level=spec.get("consistency_level"),
                        metric_type=spec.get("metric_type"), raw=f"[fixture shape {i}] dsl={dsl[:200]}")
    analysis = FilterAnalysis(
        fields={str(k): list(v or []) for k, v in (spec.get("fields") or {}).items()},
        or_chains={str(k): int(v) for k, v in (spec.get("or_chains") or {}).items()},
        or_chain_values={str(k): [str(x) for x in v] for k, v in (spec.get("or_chain_values") or {}).items()},
        json_paths=[str(p) for p in spec.get("json_paths") or []],
        json_fields=[str(p) for p in spec.get("json_fields") or []],
        leading_wildcard_like=[str(p) for p in spec.get("leading_wildcard_like") or []],
        unindexed_fields=[str(p) for p in spec.get("unindexed_fields") or []],
        rewritten=spec.get("rewritten"),
    )
    nq = spec.get("nq", 1)
    return ShapeStats(
        fingerprint=hashlib.sha1(f"{i}:{spec.get('collection')}:{dsl}".encode()).hexdigest()[:8],
        kind=spec.get("kind", "search"), db="default", collection=spec.get("collection"), partitions=[],
        filter_shape=str(spec.get("filter_shape", dsl)), nq_bucket=_nq_bucket(nq), topk=spec.get("topk"),
        metric_type=spec.get("metric_type"), params_bucket={}, consistency_level=spec.get("consistency_level"),
        output_field_count=0, count=count, total_s=float(spec.get("total_s", max_s * count)),
        share=float(spec.get("share", 0.0)), p50_s=float(spec.get("p50_s", max_s)), p95_s=max_s, max_s=max_s,
        per_nq_p50_s=spec.get("per_nq_p50_s"), max_nq=nq, worst=worst, analysis=analysis,
    )


def build_slowlog(raw: dict[str, Any] | None, milvus: MilvusEvidence | None) -> SlowLogEvidence | None:
    if raw is None:
        return None
    requests: list[SlowRequest] = []
    for j, line in enumerate(raw.get("lines") or []):
        try:
            req = parse_slow_line(str(line))
        except MalformedLine as e:
            raise FixtureError(f"slowlog.lines[{j}]: not a slow-request line: {e}") from e
        if req is None:
            raise FixtureError(f"slowlog.lines[{j}]: not a slow-request line")
        requests.append(req)
    requests += [_request(r, f"slowlog.requests[{j}]") for j, r in enumerate(raw.get("requests") or [])]
    requests.sort(key=lambda r: -r.duration_s)
    if raw.get("shapes") is not None:
        shapes = [_shape(s, i) for i, s in enumerate(raw["shapes"])]
        total = sum(s.total_s for s in shapes) or 1.0
        for s in shapes:
            if not s.share:
                s.share = s.total_s / total
        shapes.sort(key=lambda s: -s.total_s)
        digest = Digest(total_count=sum(s.count for s in shapes), total_s=total, shapes=shapes,
                        shape_count=len(shapes))
    else:
        from bot.digest import DigestBuilder

        builder = DigestBuilder()
        for r in requests:
            builder.add(r)
        digest = builder.finish(milvus=milvus)
    slow_lines = raw.get("slow_lines")
    if slow_lines is None:
        slow_lines = len(requests) or (digest.total_count if digest else 0)
    return SlowLogEvidence(source="fixture", slow_lines=int(slow_lines), requests=requests, digest=digest,
                           threshold_s=raw.get("threshold_s"))


def build_milvus(raw: dict[str, Any] | None) -> MilvusEvidence | None:
    if raw is None:
        return None
    colls = []
    for i, c in enumerate(raw.get("collections") or []):
        try:
            colls.append(CollectionFacts.model_validate(c))
        except Exception as e:
            raise FixtureError(f"milvus.collections[{i}]: {e}") from e
    return MilvusEvidence(uri="fixture", server_version=raw.get("server_version"), collections=colls)


def build_evidence(spec: dict[str, Any], units: dict[str, str], titles: dict[str, str]) -> Evidence:
    window = window_of(spec)
    milvus = build_milvus(spec.get("milvus"))
    missing = [Missing.model_validate(m) for m in spec.get("missing") or []]
    ev = Evidence(
        cluster=str(spec.get("cluster", "test")), window=window, collection=spec.get("collection"),
        gathered_at=FIXED_END + timedelta(seconds=1),
        milvus_version=spec.get("version") or (milvus.server_version if milvus else None),
        signals=build_signals(spec.get("signals") or {}, units, titles),
        slowlog=build_slowlog(spec.get("slowlog"), milvus), milvus=milvus, missing=missing,
    )
    return ev
