"""PNG charts for the Slack thread: search latency by phase (window vs. baseline) and slow queries.

matplotlib's object API on an Agg canvas: no pyplot global state, so worker threads can draw at
once. The baseline (same window one day earlier) is shifted onto the window's time axis and drawn
dashed in the same colour as its phase.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bot.models import Diagnosis, Evidence, SignalValue

# (signal name, label): the phases a search goes through, outermost first.
PHASES: list[tuple[str, str]] = [
    ("proxy_search_p99", "proxy p99"),
    ("queue_p99", "queue p99"),
    ("segment_p99", "segment p99"),
    ("core_p99", "segcore p99"),
    ("reduce_p99", "reduce p99"),
    ("wait_tsafe_p99", "wait tSafe p99"),
]
SLOW_COUNT_SIGNAL = "slow_query_count"
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _phase_series(ev: Evidence) -> list[tuple[str, str, SignalValue]]:
    out = []
    for (name, label), color in zip(PHASES, _COLORS, strict=True):
        sig = ev.signals.get(name)
        if sig is not None and (sig.series or sig.baseline_series):
            out.append((label, color, sig))
    return out


def slow_per_minute(ev: Evidence) -> tuple[list[datetime], list[float], str] | None:
    """Slow queries per minute: the slow_query_count signal when it has a series, else the slow-log sample."""
    sig = ev.signals.get(SLOW_COUNT_SIGNAL)
    if sig is not None and sig.series:
        return [_dt(t) for t, _ in sig.series], [v for _, v in sig.series], "slow queries (Prometheus)"
    slow = ev.slowlog
    if slow is None:
        return None
    times = [r.time for r in slow.requests if r.time is not None]
    if not times:
        return None
    per_min = Counter(t.astimezone(UTC).replace(second=0, microsecond=0) for t in times)
    start = ev.window.start.replace(second=0, microsecond=0)
    xs, ys = [], []
    t = start
    while t <= ev.window.end:
        xs.append(t)
        ys.append(float(per_min.get(t, 0)))
        t += timedelta(minutes=1)
    label = "slow-log lines / min"
    if slow.truncated:
        label += f" (sample of {len(slow.requests):,} / {slow.slow_lines:,})"
    return xs, ys, label


def has_chart_data(d: Diagnosis) -> bool:
    return bool(_phase_series(d.evidence)) or slow_per_minute(d.evidence) is not None


def render_chart(d: Diagnosis, dpi: int = 110) -> bytes | None:
    """The chart as PNG bytes, or None when there is no series to draw."""
    ev = d.evidence
    phases = _phase_series(ev)
    slow = slow_per_minute(ev)
    if not phases and slow is None:
        return None
    fig = Figure(figsize=(9, 5.5), dpi=dpi)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    shift = ev.window.end - ev.window.baseline().end  # baseline drawn on the window's axis
    for label, color, sig in phases:
        if sig.series:
            top.plot([_dt(t) for t, _ in sig.series], [v for _, v in sig.series], color=color,
                     linewidth=1.6, label=label)
        if sig.baseline_series:
            top.plot([_dt(t) + shift for t, _ in sig.baseline_series], [v for _, v in sig.baseline_series],
                     color=color, linewidth=1.0, linestyle="--", alpha=0.8)
    top.set_ylabel("latency (ms)")
    title = f"{d.request.cluster}: search latency by phase"
    if d.request.collection:
        title += f" ({d.request.collection})"
    top.set_title(title, fontsize=11)
    top.grid(True, alpha=0.3)
    if phases:
        handles, labels = top.get_legend_handles_labels()
        handles.append(Line2D([], [], color="grey", linestyle="--"))
        labels.append("same window 1 day earlier")
        top.legend(handles, labels, fontsize=8, loc="upper left", ncol=2)
    else:
        top.text(0.5, 0.5, "no latency series (Prometheus unavailable?)", ha="center", va="center",
                 transform=top.transAxes, color="grey")
    if slow is not None:
        xs, ys, label = slow
        width = (1 / 1440) * 0.8 if len(xs) > 1 and (xs[1] - xs[0]) <= timedelta(minutes=1) else None
        if width:
            bottom.bar(xs, ys, width=width, align="edge", color="#d62728", alpha=0.75, label=label)
        else:
            bottom.plot(xs, ys, color="#d62728", label=label)
        bottom.legend(fontsize=8, loc="upper left")
    else:
        bottom.text(0.5, 0.5, "no slow-query data", ha="center", va="center", transform=bottom.transAxes,
                    color="grey")
    bottom.set_ylabel("slow / min")
    bottom.grid(True, alpha=0.3)
    bottom.set_xlim(ev.window.start, ev.window.end)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))
    bottom.set_xlabel("UTC")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
