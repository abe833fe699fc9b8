"""Scenario -> Milvus log files with `Search slow` lines in the real format of the scenario's version
(milvus-signals.md §5), amid ordinary INFO lines and the WARN lines that also contain "slow".

Times are spread inside the window (seeded, so a scenario always gives the same lines); a few slow
lines from a day earlier sit at the top of the file and must not be counted.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.demo.scenario import Scenario, ScenarioError, SlowEntry
from bot.slowlog.versions import threshold_for

DIM = 128  # the production clusters' vectors; only len(PlaceholderGroup) shows it


@dataclass(frozen=True)
class SlowEvent:
    t: float
    entry: SlowEntry
    duration_s: float
    trace_id: str


def caller(version: tuple[int, int, int], kind: str) -> str:
    """The `proxy/impl.go:LINE` of the slow-log call in that version (for realism only)."""
    search = {(2, 3): 2578, (2, 4): 2969, (2, 5): 3081, (2, 6): 3084}
    query = {(2, 3): 2839, (2, 4): 3458, (2, 5): 3606, (2, 6): 3796}
    table = search if kind == "Search" else query
    return f"proxy/impl.go:{table.get(version[:2], table[(2, 6)])}"


def threshold(version: tuple[int, int, int]) -> tuple[float, bool]:
    """(seconds, per_nq): when a Search is logged as slow in that version with the stock config.

    Read from the slow-log reader's table (bot/slowlog/thresholds.yaml), so the demo writes exactly
    the lines the reader expects; versions older than the table get 2.3's 5 s per request.
    """
    t = threshold_for(version)
    return (t.threshold_s, t.per_nq) if t is not None else (5.0, False)


def _quote(v: str) -> str:
    """zap text encoder: quote when the value has a byte <= 0x20 or one of \\ " [ ] =."""
    if v and not any(c <= " " or c in '\\"[]=' for c in v):
        return v
    if not v:
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def go_duration(s: float) -> str:
    """Go time.Duration.String() for durations between 1 ms and an hour."""
    if s >= 60:
        m, rest = divmod(s, 60)
        return f"{int(m)}m{rest:.9f}".rstrip("0").rstrip(".") + "s"
    if s >= 1:
        return f"{s:.9f}".rstrip("0").rstrip(".") + "s"
    return f"{s * 1000:.6f}".rstrip("0").rstrip(".") + "ms"


def _stamp(t: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y/%m/%d %H:%M:%S.") + f"{d.microsecond // 1000:03d} +00:00"


def _tso(t: float) -> int:
    return int(t * 1000) << 18


def _search_params(e: SlowEntry, version: tuple[int, int, int]) -> list[dict[str, str]]:
    params = json.dumps(e.params, separators=(",", ":"))
    if version >= (2, 5, 0):  # newer pymilvus: metric_type first, params carry metric_type too
        inner = json.dumps({**e.params, "metric_type": e.metric_type}, separators=(",", ":"))
        return [{"key": "topk", "value": str(e.topk)}, {"key": "metric_type", "value": e.metric_type},
                {"key": "anns_field", "value": e.anns_field}, {"key": "params", "value": inner}]
    return [{"key": "topk", "value": str(e.topk)}, {"key": "params", "value": params},
            {"key": "round_decimal", "value": "-1"}, {"key": "ignore_growing", "value": "False"},
            {"key": "metric_type", "value": e.metric_type}, {"key": "anns_field", "value": e.anns_field}]


def _guarantee(e: SlowEntry, t: float, version: tuple[int, int, int]) -> int:
    if version < (2, 5, 0):  # 2.3/2.4 log what the client sent: 1 for Bounded/Eventually via pymilvus
        return _tso(t - e_duration_guess(e)) if e.consistency == "Strong" else 1
    if e.consistency == "Eventually":
        return 1
    lag = 0.0 if e.consistency == "Strong" else 5.0  # Bounded: common.gracefulTime 5 s
    return _tso(t - e_duration_guess(e) - lag)


def e_duration_guess(e: SlowEntry) -> float:
    return e.duration_s[0]


def format_event(ev: SlowEvent, version: tuple[int, int, int], fmt: str) -> str:
    e = ev.entry
    fields: list[tuple[str, Any]] = [
        ("traceID", ev.trace_id), ("role", "proxy"), ("db", e.db), ("collection", e.collection),
        ("partitions", []),
    ]
    if e.kind == "Search":
        fields += [("dsl", e.filter), ("len(PlaceholderGroup)", e.nq * (DIM * 4 + 3) + 9),
                   ("OutputFields", e.output_fields), ("search_params", _search_params(e, version))]
    else:
        fields += [("expr", e.filter), ("OutputFields", e.output_fields or ["*"]), ("travel_timestamp", 0)]
    if version >= (2, 5, 0):
        fields += [("ConsistencyLevel", e.consistency), ("useDefaultConsistency", True)]
    fields.append(("guarantee_timestamp", _guarantee(e, ev.t, version)))
    if e.kind == "Search":
        fields.append(("nq", e.nq))
    fields.append(("duration", go_duration(ev.duration_s)))
    if e.kind == "Search" and version >= (2, 5, 13):
        fields.append(("durationPerNq", go_duration(ev.duration_s / e.nq)))
    msg = f"{e.kind} slow"
    where = caller(version, e.kind)
    if fmt == "json":
        obj: dict[str, Any] = {"level": "INFO", "time": _stamp(ev.t), "caller": where, "message": msg}
        obj.update(dict(fields))
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    parts = [f"[{_stamp(ev.t)}] [INFO] [{where}] [\"{msg}\"]"]
    for k, v in fields:
        if isinstance(v, list):
            text = json.dumps(v, separators=(",", ":")) if v and isinstance(v[0], dict) else "[" + ",".join(v) + "]"
        elif isinstance(v, bool):
            text = "true" if v else "false"
        else:
            text = str(v)
        parts.append(f"[{_quote(k)}={_quote(text)}]")
    return " ".join(parts)


def _noise_text(kind: str, t: float, rng: random.Random) -> str:
    s = _stamp(t)
    if kind == "gc":
        return (f"[{s}] [WARN] [gc/gc_tuner.go:99] [\"GC Tune done, and the gc is slow\"] [\"previous GOGC\"=200] "
                f"[\"heapuse \"={rng.randint(300, 450)}] [\"total memory\"=1509] [\"next GOGC\"=200] "
                f"[gc-pause={rng.uniform(20, 40):.2f}ms]")
    if kind == "rocksmq":
        return (f"[{s}] [WARN] [server/rocksmq_impl.go:670] [\"rocksmq produce too slowly\"] "
                f"[topic=by-dev-rootcoord-dml_3] [\"get lock elapse\"=0] [\"alloc elapse\"=0] "
                f"[\"write elapse\"={rng.randint(200, 300)}] [\"updatePage elapse\"=0] "
                f"[\"produce total elapse\"={rng.randint(200, 320)}]")
    if kind == "timetick":
        return (f"[{s}] [WARN] [rootcoord/timeticksync.go:313] [\"rootcoord send tt to all channels too slowly\"] "
                f"[chanNum=4] [span={rng.randint(250, 400)}]")
    if kind == "or_fail":
        return (f"[{s}] [WARN] [segments/cgo_util.go:58] [\"CStatus returns err\"] [errorName=UnknownError] "
                f"[errorMsg=\" => unsupported expr proto node: \"]")
    # ordinary INFO chatter
    return (f"[{s}] [INFO] [querynodev2/services.go:757] [\"Received SearchRequest done\"] "
            f"[traceID={rng.getrandbits(128):032x}] [collectionID=446{rng.randint(100000, 999999)}] "
            f"[scope=Historical] [nq=1] [topk=10]")


def _noise_json(kind: str, t: float, rng: random.Random) -> str:
    msg = {"gc": ("WARN", "gc/gc_tuner.go:99", "GC Tune done, and the gc is slow"),
           "rocksmq": ("WARN", "server/rocksmq_impl.go:670", "rocksmq produce too slowly"),
           "timetick": ("WARN", "rootcoord/timeticksync.go:313", "rootcoord send tt to all channels too slowly"),
           "or_fail": ("WARN", "segments/cgo_util.go:58", "CStatus returns err"),
           "info": ("INFO", "querynodev2/services.go:757", "Received SearchRequest done")}[kind]
    return json.dumps({"level": msg[0], "time": _stamp(t), "caller": msg[1], "message": msg[2],
                       "traceID": f"{rng.getrandbits(128):032x}"}, separators=(",", ":"))


def plan_events(sc: Scenario, end: float) -> list[SlowEvent]:
    """The slow lines of the window, in time order (seeded by the scenario name)."""
    rng = random.Random(f"slow:{sc.name}")
    lim, per_nq = threshold(sc.version_tuple)
    start = end - sc.window_minutes * 60.0
    out: list[SlowEvent] = []
    for e in sc.slowlog.entries:
        lo, hi = e.duration_s
        shortest = lo / e.nq if (per_nq and e.kind == "Search") else lo
        if shortest < lim:
            raise ScenarioError(f"{sc.source_path}: slowlog entry on {e.collection} (nq={e.nq}) lasts {lo}s, "
                                f"below Milvus {sc.milvus_version}'s slow-log threshold ({lim:g}s"
                                f"{' per nq' if per_nq else ''}): it would not be logged")
        for _ in range(e.count):
            if e.at_min_before_end is not None:
                t = end - e.at_min_before_end * 60.0 + rng.uniform(0, e.spread_s)
            else:
                t = rng.uniform(start + 20.0, end - 20.0)
            out.append(SlowEvent(t=min(t, end - 1.0), entry=e, duration_s=rng.uniform(lo, hi),
                                 trace_id=f"{rng.getrandbits(128):032x}"))
    return sorted(out, key=lambda ev: ev.t)


def write_log(sc: Scenario, end: float, directory: Path) -> tuple[Path, list[SlowEvent]]:
    """Write the cluster's log file; returns it and the in-window slow events."""
    rng = random.Random(f"log:{sc.name}")
    events = plan_events(sc, end)
    version, fmt = sc.version_tuple, sc.slowlog.format
    start = end - sc.window_minutes * 60.0
    noise = _noise_json if fmt == "json" else _noise_text
    lines: list[tuple[float, str]] = []
    # Yesterday's slow lines: outside the window, must not be counted.
    if sc.slowlog.entries:
        for i in range(sc.slowlog.old_lines):
            e = sc.slowlog.entries[i % len(sc.slowlog.entries)]
            t = end - 86400.0 + rng.uniform(-1800, 0)
            old = SlowEvent(t=t, entry=e, duration_s=e.duration_s[1], trace_id=f"{rng.getrandbits(128):032x}")
            lines.append((t, format_event(old, version, fmt)))
    t = start - 300.0
    while t < end + 30.0:  # ordinary chatter every ~20 s, and the scenario's noise WARNs
        lines.append((t, noise("info", t, rng)))
        for kind in sc.slowlog.noise:
            if rng.random() < 0.25:
                lines.append((t + 1.0, noise(kind, t + 1.0, rng)))
        t += rng.uniform(15.0, 25.0)
    lines.extend((ev.t, format_event(ev, version, fmt)) for ev in events)
    lines.sort(key=lambda x: x[0])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "milvus-stdout.log"
    path.write_text("\n".join(text for _, text in lines) + "\n", encoding="utf-8")
    return path, events
