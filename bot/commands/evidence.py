"""`milvus-triage evidence <cluster> [--window 30m] [--at TIME] [--collection NAME] [--json]`.

Gathers the evidence of one diagnosis (Prometheus signals, slow log, Milvus facts) without
applying any rule, and prints it: a readable table, or the Evidence object as JSON.
Exit codes: 0 gathered (sources that failed are listed under "could not check"), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.commands._common import load_or_exit
from bot.config import ConfigError
from bot.escape import terminal_escape
from bot.format import format_ratio_x, format_value
from bot.models import Evidence, SignalValue, TriageRequest
from bot.timewindow import WindowError, make_window


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evidence", help="gather and print the evidence for a cluster (no rules applied)",
                       description="Gather Prometheus signals, slow-log lines and Milvus facts for one window "
                                   "and print them, with the same window one day earlier as the baseline.")
    p.add_argument("cluster", help="a cluster name from clusters.yaml")
    p.add_argument("--window", default="30m", help="how far back to look, e.g. 15m, 1h, 2h30m (default 30m)")
    p.add_argument("--at", default=None, help="end of the window: ISO 8601, HH:MM (UTC) or unix seconds "
                                              "(default now)")
    p.add_argument("--collection", default=None, help="narrow to one collection where the sources can")
    p.add_argument("--json", action="store_true", help="print the Evidence object as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.evidence import gather_evidence

    cfg = load_or_exit(getattr(args, "config", None))
    try:
        cluster = cfg.cluster(args.cluster)
        window = make_window(args.window, args.at)
    except (ConfigError, WindowError) as e:
        print(f"milvus-triage: {e}", file=sys.stderr)
        return 2
    request = TriageRequest(cluster=cluster.name, collection=args.collection, window=window, trigger="cli")
    evidence = gather_evidence(request, cluster)
    if args.json:
        print(json.dumps(evidence_json(evidence), indent=2, default=str))
    else:
        print(render_text(evidence))
    return 0


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    try:
        return evidence.model_dump(mode="json")
    except Exception:  # the digest is typed Any; fall back to plain str() for anything pydantic cannot encode
        return json.loads(json.dumps(evidence.model_dump(), default=str))


def _t(text: object) -> str:
    return terminal_escape(str(text))


def _signal_line(sv: SignalValue, width: int) -> str:
    now = format_value(sv.value, sv.unit)
    was = format_value(sv.baseline, sv.unit) if sv.baseline is not None else "n/a"
    ratio = sv.ratio_to_baseline
    change = f" ({format_ratio_x(ratio)})" if ratio is not None and sv.unit != "info" else ""
    shown = _t(sv.variant) if sv.unit == "info" and sv.variant else now
    by = ""
    if sv.by:
        parts = sorted(sv.by.items(), key=lambda kv: -kv[1])[:5]
        by = "  by " + ", ".join(f"{_t(k)}={format_value(v, sv.unit)}" for k, v in parts)
    variant = f"  [{_t(sv.variant)}]" if sv.variant else ""
    if sv.unit == "info":
        return f"  {sv.name:<{width}}  {shown:>12}"
    return f"  {sv.name:<{width}}  {shown:>12}  was {was:>12}{change}{variant}{by}"


def render_text(ev: Evidence) -> str:
    w = ev.window
    lines = [
        f"Evidence for {_t(ev.cluster)}: {w.start:%Y-%m-%d %H:%M}–{w.end:%H:%M} UTC ({w.label})"
        + (f", collection {_t(ev.collection)}" if ev.collection else ""),
        f"Milvus version: {_t(ev.milvus_version) if ev.milvus_version else 'unknown'}",
    ]
    if ev.source_seconds:
        lines.append("Sources: " + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(ev.source_seconds.items())))
    available = [s for s in ev.signals.values() if s.value is not None]
    unavailable = [s for s in ev.signals.values() if s.value is None]
    width = max((len(s.name) for s in ev.signals.values()), default=10)
    if available:
        lines += ["", "Signals (window, and the same window one day earlier):"]
        lines += [_signal_line(s, width) for s in available]
    if unavailable:
        lines += ["", "Signals not available:"]
        lines += [f"  {s.name:<{width}}  {_t((s.unavailable or '').removeprefix('unavailable: '))}"
                  for s in unavailable]
    if ev.slowlog is not None:
        sl = ev.slowlog
        lines += ["", f"Slow log ({_t(sl.source)}): {sl.slow_lines} slow request(s) in {sl.lines_read} lines read"
                  + (f", {sl.malformed} malformed" if sl.malformed else "")]
        for r in sl.requests[:5]:
            lines.append(f"  {r.duration_s:8.2f}s  {r.kind}  collection={_t(r.collection or '?')}  nq={r.nq}"
                         + (f"  filter={_t(r.dsl[:80])}" if r.dsl else ""))
    if ev.milvus is not None:
        m = ev.milvus
        lines += ["", f"Milvus ({_t(m.uri)}): server {_t(m.server_version or 'unknown')}, "
                      f"{len(m.collections)} collection(s) inspected"]
        for c in m.collections:
            seg = c.segments
            segs = f", segments {seg.sealed} sealed / {seg.growing} growing" if seg else ""
            lines.append(f"  {_t(c.name)}: rows {c.row_count}, consistency {_t(c.consistency_level)}{segs}")
        for name, why in m.collections_unavailable.items():
            lines.append(f"  {_t(name)}: not readable: {_t(why)}")
    if ev.missing:
        lines += ["", "Could not check:"]
        lines += [f"  {m.source}: {_t(m.what)}: {_t(m.reason)}" for m in ev.missing]
    return "\n".join(lines)
