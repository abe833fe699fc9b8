"""Render a Handoff as terminal text, markdown, or Slack Block Kit (built with slack_sdk models).

One neutral outline (sections of plain-text items) feeds all three, so they say the same things;
each renderer escapes for its target: terminal_escape, markdown_escape, slack_escape.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.alerts.replies import human_duration
from bot.escape import markdown_escape, slack_escape, terminal_escape, truncate
from bot.format import format_ms
from bot.handoff.model import ClusterHandoff, Handoff
from bot.timewindow import format_duration

MAX_BLOCKS = 50  # Slack: per message
MAX_SECTION_TEXT = 3000  # Slack: section text
MAX_HEADER = 150  # Slack: header text
TOTAL_BUDGET = 11_000  # msg_blocks_too_long shows up near 13k characters in total
MAX_FIX_STEPS = 3


@dataclass(slots=True)
class Item:
    text: str
    sub: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Section:
    title: str
    items: list[Item]
    more: int = 0  # items left out by the cap


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _clock(at: datetime, h: Handoff) -> str:
    tz = ZoneInfo(h.timezone)
    local, ref = at.astimezone(tz), h.until.astimezone(tz)
    return local.strftime("%H:%M") if local.date() == ref.date() else local.strftime("%a %d %H:%M")


def title_line(h: Handoff) -> str:
    span = format_duration(h.until - h.since)
    return f"Milvus handoff: {_clock(h.since, h)} → {_clock(h.until, h)} {h.timezone} ({span})"


def summary_line(ch: ClusterHandoff) -> str:
    if ch.quiet:
        return "quiet: no incidents, no diagnoses"
    parts = [f"{len(ch.fired)} fired", f"{len(ch.resolved)} resolved", f"{len(ch.open)} still open",
             f"{ch.diagnoses} diagnoses"]
    return " · ".join(parts)


def _capped(title: str, items: list[Item], cap: int) -> Section | None:
    if not items:
        return None
    return Section(title, items[:cap], max(0, len(items) - cap))


def outline(ch: ClusterHandoff, h: Handoff) -> list[Section]:
    cap = h.max_items
    sections: list[Section | None] = []
    sections.append(_capped("Still open", [
        Item(f"{x.alertname} since {_clock(x.fired_at, h)} ({human_duration(timedelta(seconds=x.duration_s))}): "
             f"{x.last_finding or 'no finding yet'}") for x in ch.open], cap))
    sections.append(_capped("Resolved", [
        Item(f"{x.alertname} after {human_duration(timedelta(seconds=x.duration_s))}: "
             f"{x.last_finding or 'no finding recorded'}") for x in ch.resolved], cap))
    fired: dict[str, list[datetime]] = defaultdict(list)
    for x in ch.fired:
        fired[x.alertname].append(x.fired_at)
    sections.append(_capped("Fired", [
        Item(f"{name} ×{len(times)} ({', '.join(_clock(t, h) for t in sorted(times)[:6])}"
             f"{', …' if len(times) > 6 else ''})")
        for name, times in sorted(fired.items(), key=lambda kv: (-len(kv[1]), kv[0]))], cap))
    if ch.top_causes:
        line = " · ".join(f"{c.cause.replace('_', ' ')} {c.count}" for c in ch.top_causes[:cap])
        sections.append(Section("Top causes", [Item(line)]))
    sections.append(_capped(f"Keeps coming back ({h.repeat_days} days)", [
        Item(f"{ordinal(r.count)} time this week: {r.title}") for r in ch.repeated], cap))
    sections.append(_capped("Fix steps still open", [
        Item(f"{f.alertname}: {f.finding}", f.steps[:MAX_FIX_STEPS]) for f in ch.open_fixes], cap))
    sections.append(_capped("Slowest collections", [
        Item(f"{s.collection}: {format_ms(s.max_ms)} worst, {s.slow_count:,} slow requests in "
             f"{s.diagnoses} diagnoses") for s in ch.slowest], cap))
    return [s for s in sections if s is not None]


# --------------------------------------------------------------------------- terminal text


def handoff_text(h: Handoff) -> str:
    """Plain text: the terminal (`milvus-triage handoff`) and the Slack notification fallback."""
    e = terminal_escape
    lines = [e(title_line(h))]
    t = h.totals
    lines.append(f"{len(h.clusters)} clusters · {t['fired']} fired · {t['resolved']} resolved · "
                 f"{t['open']} still open · {t['diagnoses']} diagnoses")
    for ch in h.clusters:
        lines.append("")
        lines.append(f"{e(ch.cluster)}: {summary_line(ch)}")
        for sec in outline(ch, h):
            lines.append(f"  {e(sec.title)}:")
            for item in sec.items:
                lines.append(f"    - {e(item.text)}")
                lines.extend(f"        {n}. {e(s)}" for n, s in enumerate(item.sub, 1))
            if sec.more:
                lines.append(f"    (+{sec.more} more)")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- markdown


def handoff_markdown(h: Handoff) -> str:
    e = markdown_escape
    out = [f"## {e(title_line(h))}", ""]
    for ch in h.clusters:
        out.append(f"### {e(ch.cluster)}: {e(summary_line(ch))}")
        for sec in outline(ch, h):
            out.append(f"**{e(sec.title)}**")
            out.append("")
            for item in sec.items:
                out.append(f"- {e(item.text)}")
                out.extend(f"    {n}. {e(s)}" for n, s in enumerate(item.sub, 1))
            if sec.more:
                out.append(f"- (+{sec.more} more)")
            out.append("")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- Slack blocks


def _mrkdwn_cluster(ch: ClusterHandoff, h: Handoff, budget: int) -> str:
    e = slack_escape
    lines = [f"*{e(ch.cluster)}*: {e(summary_line(ch))}"]
    for sec in outline(ch, h):
        lines.append(f"*{e(sec.title)}*")
        for item in sec.items:
            lines.append(f"• {e(truncate(item.text, 400))}")
            lines.extend(f"      {n}. {e(truncate(s, 300))}" for n, s in enumerate(item.sub, 1))
        if sec.more:
            lines.append(f"_+{sec.more} more_")
    text = "\n".join(lines)
    if len(text) > budget:
        note = f"\n_… cut to fit Slack; `milvus-triage handoff --cluster {e(ch.cluster)}` has it all_"
        text = truncate(text, max(0, budget - len(note)), marker="") + note
    return text


def handoff_blocks(h: Handoff) -> list[dict[str, Any]]:
    """Block Kit for Slack: validated by slack_sdk's models, ≤ 50 blocks, ≤ ~11k characters in total."""
    t = h.totals
    blocks: list[Any] = [
        HeaderBlock(text=truncate(title_line(h), MAX_HEADER)),
        ContextBlock(elements=[MarkdownTextObject(text=(
            f"{len(h.clusters)} clusters · {t['fired']} fired · {t['resolved']} resolved · "
            f"{t['open']} still open · {t['diagnoses']} diagnoses"))]),
    ]
    busy = [c for c in h.clusters if not c.quiet]
    quiet = [c for c in h.clusters if c.quiet]
    room = (MAX_BLOCKS - len(blocks) - 2) // 2  # each cluster: section + divider; keep 2 for the tail
    shown, hidden = busy[:room], busy[room:]
    budget = min(MAX_SECTION_TEXT, max(300, (TOTAL_BUDGET - 600) // max(1, len(shown))))
    for ch in shown:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_mrkdwn_cluster(ch, h, budget))))
        blocks.append(DividerBlock())
    tail = []
    if hidden:
        tail.append(f"+{len(hidden)} more clusters with activity: "
                    + ", ".join(slack_escape(c.cluster) for c in hidden))
    if quiet:
        tail.append("Quiet: " + ", ".join(slack_escape(c.cluster) for c in quiet))
    if tail:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(" · ".join(tail), 2900))]))
    elif blocks and isinstance(blocks[-1], DividerBlock):
        blocks.pop()
    return [b.to_dict() for b in blocks]


def handoff_json(h: Handoff) -> str:
    return h.model_dump_json(indent=2)


RENDERERS: dict[str, Callable[[Handoff], str]] = {
    "text": handoff_text, "markdown": handoff_markdown, "json": handoff_json,
}
