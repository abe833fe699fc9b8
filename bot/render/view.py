"""Diagnosis -> a plain view (strings and lists) that the output templates lay out.

Numbers are formatted here (bot.format), long text is clipped visibly, prose is kept on one line.
Escaping for the target format is NOT done here: the template environment escapes every value it
prints (bot.render.env), so a template cannot forget it.
"""

from __future__ import annotations

from typing import Any

from bot.format import format_ms, format_value
from bot.models import Diagnosis, Finding

LINE_LIMIT = 600  # characters of one prose line (evidence, fix step, summary)
CODE_LIMIT = 4000  # characters of one code block
TOP_SHAPES = 5
HEALTHY_LABEL = "Keep it healthy"


def clip(text: str, limit: int) -> str:
    """Visible truncation: the reader must see that text was cut, and how much."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text) - limit:,} more characters]"


def one_line(text: Any, limit: int = LINE_LIMIT) -> str:
    return clip(" ".join(str(text or "").split()), limit)


def code_block(text: Any, limit: int = CODE_LIMIT) -> str:
    lines = [ln.rstrip() for ln in str(text or "").splitlines()]
    return clip("\n".join(ln for ln in lines if ln.strip() or ln == ""), limit).strip("\n")


def plural(n: float | int, word: str, many: str | None = None) -> str:
    return f"{format_value(n, 'count')} {word if n == 1 else (many or word + 's')}"


def _secs(s: float | None) -> str:
    return "n/a" if s is None else format_ms(s * 1000.0)


def finding_view(n: int, f: Finding, cause_titles: dict[str, str]) -> dict[str, Any]:
    return {
        "n": n, "rule_id": f.rule_id, "severity": f.severity, "cause": f.cause,
        "cause_title": cause_titles.get(f.cause, f.cause), "title": one_line(f.title, 300),
        "summary": one_line(f.summary), "evidence": [one_line(e) for e in f.evidence],
        "fix_label": HEALTHY_LABEL if f.cause == "healthy" else "Fix",
        "fix": [one_line(s) for s in f.fix_steps], "code": [c for c in (code_block(x) for x in f.code) if c],
        "links": [one_line(u, 300) for u in f.links], "collection": f.collection or "",
        "strength": f"{f.strength:.2f}",
    }


def shapes_view(d: Diagnosis) -> dict[str, Any]:
    sl = d.evidence.slowlog
    if sl is None:
        reason = next((f"{m.what}: {m.reason}" for m in d.evidence.missing if m.source == "slowlog"),
                      "no log source configured")
        return {"available": False, "reason": one_line(reason, 300), "rows": []}
    digest = sl.digest
    shapes = list(getattr(digest, "shapes", []) or [])[:TOP_SHAPES] if digest is not None else []
    rows = []
    for i, s in enumerate(shapes, 1):
        worst = getattr(s, "worst", None)
        rows.append({
            "rank": str(i), "share": format_value(s.share, "ratio"), "calls": format_value(s.count, "count"),
            "total": _secs(s.total_s), "p50": _secs(s.p50_s), "max": _secs(s.max_s),
            "max_nq": format_value(s.max_nq, "count") if s.max_nq is not None else "?",
            "collection": one_line(s.collection or "?", 60),
            "filter": one_line(s.filter_shape or "(no filter)", 100),
            "example": one_line(worst.dsl, 300) if worst is not None and worst.dsl else "",
        })
    other = getattr(digest, "other", None) if digest is not None else None
    threshold = f"{_secs(sl.threshold_s)}" if sl.threshold_s else "unknown"
    return {
        "available": True, "source": one_line(sl.source, 200),
        "slow_lines": plural(sl.slow_lines, "slow search", "slow searches"),
        "total_s": _secs(getattr(digest, "total_s", None)) if digest is not None else "n/a",
        "shape_count": plural(getattr(digest, "shape_count", 0) or len(shapes), "shape"),
        "threshold": threshold, "rows": rows, "digest": digest is not None,
        "other": {"calls": format_value(other.count, "count"), "total": _secs(other.total_s),
                  "share": format_value(other.share, "ratio")} if other is not None and other.count else None,
        "malformed": format_value(sl.malformed, "count") if sl.malformed else "",
    }


def diagnosis_view(d: Diagnosis, cause_titles: dict[str, str]) -> dict[str, Any]:
    w = d.evidence.window
    window = f"{w.start:%Y-%m-%d %H:%M}–{w.end:%H:%M} UTC ({w.label})"
    return {
        "verdict": one_line(d.verdict, 400), "cluster": one_line(d.request.cluster, 100),
        "collection": one_line(d.request.collection or "", 200), "window": window,
        "version": one_line(d.evidence.milvus_version or "unknown", 60),
        "elapsed": _secs(d.elapsed_s), "top_cause": cause_titles.get(d.top_cause or "", d.top_cause or ""),
        "findings": [finding_view(i, f, cause_titles) for i, f in enumerate(d.findings, 1)],
        "shapes": shapes_view(d),
        "healthy": [one_line(h) for h in d.healthy], "not_checked": [one_line(n) for n in d.not_checked],
    }
