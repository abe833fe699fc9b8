"""Render a Digest: a pt-query-digest style text report, and a JSON document.

Text layout: a header (source, time range, lines, totals), the profile table ranked by total slow
time with outliers and a final MISC row, then one detail block per shape (figures, filter analysis,
a log10 histogram drawn with `#`, the worst sample). Everything taken from logs is passed through
bot.escape.terminal_escape, so a log line cannot drive the terminal.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from bot.digest.model import Digest, FilterAnalysis, ShapeStats
from bot.digest.sketch import HISTOGRAM_LABELS
from bot.escape import terminal_escape, truncate
from bot.format import format_value

BAR_WIDTH = 50
ITEM_WIDTH = 70
FILTER_WIDTH = 2000
WORST_WIDTH = 1500


# --------------------------------------------------------------------------- helpers shared by renderers


def secs(value: float | None) -> str:
    """A latency in seconds -> '5.40 s', '812 ms', '5m12s' (the project's latency formatter)."""
    return "-" if value is None else format_value(value * 1000.0, "ms")


def when(t: datetime | None) -> str:
    if t is None:
        return "-"
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if t.tzinfo is not None else "")


def clean(text: str, limit: int) -> str:
    """Log-derived text for a terminal or a text file: control characters made inert, one line, clipped."""
    return truncate(terminal_escape(text).replace("\n", " ").replace("\t", " "), limit)


def shape_item(s: ShapeStats) -> str:
    """The profile's Item column: kind, collection and filter shape."""
    if s.fingerprint == "MISC":
        return f"<{s.shape_count:,} SHAPES>"
    where = s.collection or "?"
    filt = s.filter_shape or "(no filter)"
    return f"{s.kind} {where} {filt}"


def fold(digest: Digest, top: int | None) -> tuple[list[ShapeStats], ShapeStats | None]:
    """The shapes to list and the MISC row, when showing only `top` shapes of the digest.

    Shapes beyond `top` join the digest's own MISC row. Quantiles cannot be summed, so a MISC row
    made here carries count, total, share, max and min only (renderers show '-' for the rest).
    """
    shown = digest.shapes if top is None else digest.shapes[:top]
    extra = [] if top is None else digest.shapes[top:]
    parts = extra + ([digest.other] if digest.other is not None else [])
    if not parts:
        return list(shown), None
    if not extra and digest.other is not None:
        return list(shown), digest.other
    worst = max(parts, key=lambda s: s.max_s)
    firsts = [s.first_seen for s in parts if s.first_seen is not None]
    lasts = [s.last_seen for s in parts if s.last_seen is not None]
    misc = ShapeStats(
        fingerprint="MISC", kind="", db=None, collection=None, partitions=[], filter_shape="", nq_bucket="",
        topk=None, metric_type=None, params_bucket={}, consistency_level=None, output_field_count=0,
        count=sum(s.count for s in parts), total_s=sum(s.total_s for s in parts),
        share=sum(s.share for s in parts), max_s=worst.max_s, min_s=min(s.min_s for s in parts),
        first_seen=min(firsts) if firsts else None, last_seen=max(lasts) if lasts else None,
        worst=worst.worst, histogram=[sum(col) for col in zip(*(s.histogram for s in parts), strict=True)],
        shape_count=sum(s.shape_count for s in parts),
    )
    return list(shown), misc


def bars(histogram: list[int], width: int = BAR_WIDTH) -> list[str]:
    """One line per log10 bucket: label, a `#` bar scaled to the largest bucket, the count."""
    peak = max(histogram) if histogram else 0
    out = []
    for label, n in zip(HISTOGRAM_LABELS, histogram, strict=False):
        bar = "" if not n else "#" * max(1, round(width * n / peak))
        out.append(f"{label:>9}  {bar:<{width}} {n:,}" if n else f"{label:>9}")
    return out


def analysis_lines(a: FilterAnalysis) -> list[str]:
    """Plain-text findings about a filter (not escaped: the caller escapes for its target)."""
    out: list[str] = []
    if a.fields:
        out.append("fields: " + ", ".join(f"{name} ({' '.join(ops)})" for name, ops in a.fields.items()))
    for name, n in a.or_chains.items():
        out.append(f"OR chain: {name} == ... x {n}")
    if a.rewritten:
        out.append(f"rewrite: {a.rewritten}")
    if a.json_paths:
        out.append("JSON paths: " + ", ".join(a.json_paths))
    if a.leading_wildcard_like:
        out.append("leading-wildcard like: " + ", ".join(a.leading_wildcard_like))
    if a.unindexed_fields:
        out.append("no scalar index: " + ", ".join(a.unindexed_fields))
    if a.unindexed_json_paths:
        out.append("no JSON path index: " + ", ".join(a.unindexed_json_paths))
    if a.parse_error:
        out.append(f"not analysed: {a.parse_error}")
    return out


def request_line(s: ShapeStats) -> str:
    params = " ".join(f"{k}={v}" for k, v in s.params_bucket.items()) or "-"
    parts = ", ".join(s.partitions) if s.partitions else "(all)"
    nq = s.nq_bucket or "-"
    if s.max_nq is not None:
        nq += f" (max {s.max_nq:,})"
    return (f"{s.kind} db {s.db or '-'} collection {s.collection or '-'} partitions {parts}; nq {nq}"
            f" topk {s.topk if s.topk is not None else '-'} metric {s.metric_type or '-'}"
            f" anns {s.anns_field or '-'} params {params}; consistency {s.consistency_level or '-'};"
            f" output fields {s.output_field_count}")


# --------------------------------------------------------------------------- text


def render_text(digest: Digest, top: int | None = None) -> str:
    shown, misc = fold(digest, top)
    out: list[str] = []
    out += _header(digest)
    out.append("")
    out += _profile(digest, shown, misc)
    for rank, s in enumerate(shown, 1):
        out.append("")
        out += _detail(s, f"Shape {rank}")
    for i, s in enumerate(digest.outliers, 1):
        out.append("")
        out += _detail(s, f"Outlier {i}")
    return "\n".join(out) + "\n"


def _header(d: Digest) -> list[str]:
    lines = ["# milvus-triage slow-log digest"]
    if d.source:
        lines.append(f"# Source: {clean(d.source, 300)}")
    lines.append(f"# Time range: {when(d.first_seen)} to {when(d.last_seen)}")
    counts = f"# Slow requests: {d.total_count:,}   Shapes: {d.shape_count:,}"
    if d.lines_read:
        counts = f"# Lines read: {d.lines_read:,}   " + counts[2:]
    if d.malformed:
        counts += f"   Malformed: {d.malformed:,}"
    lines.append(counts)
    lines.append(f"# Total slow time: {d.total_s:,.1f} s ({format_value(d.total_s, 's')})")
    if d.overflow_count:
        lines.append(f"# Shape cap of {d.max_shapes:,} reached: {d.overflow_count:,} requests of further"
                     " shapes are counted in MISC")
    if d.total_count:
        lines.append("# Overall distribution: " + ", ".join(
            f"{label} {n:,}" for label, n in zip(HISTOGRAM_LABELS, d.histogram, strict=False) if n))
    return lines


_COLS = ("Rank", "Shape ID", "Total (s)", "Share", "Calls", "p50", "p95", "max", "per-NQ", "V/M", "Item")
_WIDTHS = (4, 14, 11, 6, 7, 9, 9, 9, 9, 6, 0)


def _row(values: tuple[str, ...]) -> str:
    cells = []
    for i, (v, w) in enumerate(zip(values, _WIDTHS, strict=True)):
        if w == 0:
            cells.append(v)
        elif i in (1,):
            cells.append(f"{v:<{w}}")
        else:
            cells.append(f"{v:>{w}}")
    return "# " + " ".join(cells)


def _profile(d: Digest, shown: list[ShapeStats], misc: ShapeStats | None) -> list[str]:
    lines = ["# Profile (ranked by total slow time)", _row(_COLS),
             _row(tuple("=" * (w or 4) for w in _WIDTHS))]
    for rank, s in enumerate(shown, 1):
        lines.append(_profile_row(str(rank), s))
    for i, s in enumerate(d.outliers, 1):
        lines.append(_profile_row(f"O{i}", s))
    if misc is not None:
        lines.append(_profile_row("MISC", misc))
    if not shown and misc is None and not d.outliers:
        lines.append("# (no slow requests)")
    return lines


def _profile_row(rank: str, s: ShapeStats) -> str:
    is_misc = s.fingerprint == "MISC"
    return _row((
        rank, "0xMISC" if is_misc else s.fingerprint, f"{s.total_s:,.1f}", f"{s.share:.1%}", f"{s.count:,}",
        "-" if is_misc else secs(s.p50_s), "-" if is_misc else secs(s.p95_s), secs(s.max_s),
        "-" if is_misc else secs(s.per_nq_p50_s), "-" if is_misc else f"{s.vm_ratio:.2f}",
        clean(shape_item(s), ITEM_WIDTH),
    ))


def _detail(s: ShapeStats, title: str) -> list[str]:
    why = " (rare but very slow)" if s.outlier else ""
    lines = [f"# {title}: {s.fingerprint}{why}, {s.share:.1%} of slow time, {s.count:,} calls",
             f"# Seen: {when(s.first_seen)} to {when(s.last_seen)}",
             f"# Request: {clean(request_line(s), 600)}",
             f"# Filter: {clean(s.filter_shape or '(no filter)', FILTER_WIDTH)}",
             "# Attribute        total       min       max       avg       p50       p95",
             f"# Duration   {s.total_s:>9,.1f}s {secs(s.min_s):>9} {secs(s.max_s):>9} {secs(s.avg_s):>9}"
             f" {secs(s.p50_s):>9} {secs(s.p95_s):>9}"]
    if s.per_nq_p50_s is not None:
        lines.append(f"# Per NQ     {'':>10} {'':>9} {'':>9} {'':>9} {secs(s.per_nq_p50_s):>9}"
                     f" {secs(s.per_nq_p95_s):>9}")
    lines.append(f"# V/M {s.vm_ratio:.2f}")
    found = analysis_lines(s.analysis)
    if found:
        lines.append("# Filter analysis:")
        lines += [f"#   {clean(x, FILTER_WIDTH)}" for x in found]
    lines.append("# Duration distribution (log10):")
    lines += [f"#   {b}" for b in bars(s.histogram)]
    if s.worst is not None:
        w = s.worst
        trace = f" trace {clean(w.trace_id, 64)}" if w.trace_id else ""
        lines.append(f"# Worst: {secs(w.duration_s)} at {when(w.time)}{trace}")
        lines.append(clean(w.raw or w.dsl, WORST_WIDTH))
    return lines


# --------------------------------------------------------------------------- JSON


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def shape_dict(s: ShapeStats) -> dict[str, Any]:
    out = _plain(s)
    out["avg_s"] = s.avg_s
    out["histogram"] = dict(zip(HISTOGRAM_LABELS, s.histogram, strict=False))
    return out


def digest_dict(digest: Digest, top: int | None = None) -> dict[str, Any]:
    """The digest as plain JSON-able data (times in ISO 8601, histograms keyed by bucket label)."""
    shown, misc = fold(digest, top)
    return {
        "source": digest.source,
        "lines_read": digest.lines_read,
        "malformed": digest.malformed,
        "total_count": digest.total_count,
        "total_s": digest.total_s,
        "shape_count": digest.shape_count,
        "overflow_count": digest.overflow_count,
        "max_shapes": digest.max_shapes,
        "first_seen": _plain(digest.first_seen),
        "last_seen": _plain(digest.last_seen),
        "histogram": dict(zip(HISTOGRAM_LABELS, digest.histogram, strict=False)),
        "shapes": [shape_dict(s) for s in shown],
        "outliers": [shape_dict(s) for s in digest.outliers],
        "other": shape_dict(misc) if misc is not None else None,
    }


def render_json(digest: Digest, top: int | None = None) -> str:
    return json.dumps(digest_dict(digest, top), indent=2, ensure_ascii=False)
