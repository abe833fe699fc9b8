"""Block Kit for a Diagnosis, built with slack_sdk models and kept inside Slack's limits.

Two messages: a short summary for the channel (header with cluster + verdict, top findings,
window/links, buttons) and the details for its thread (one section per finding with numbers,
numbered fix steps and code; healthy; could not check; top slow-log shapes). What does not fit
the details message is announced with a visible note and goes into the thread as a file.
Every string from logs, users or evidence is escaped (bot.escape) before it becomes mrkdwn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.escape import slack_code, slack_escape, truncate
from bot.format import format_ms
from bot.models import Diagnosis, Finding, TimeWindow
from bot.slack import buttons
from bot.slack.limits import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    MAX_TOTAL_CHARS,
    BlockLimitError,
    check_limits,
    limit_problems,
    text_chars,
)
from bot.timewindow import MAX_WINDOW, format_duration

__all__ = ["BlockLimitError", "RenderedDiagnosis", "check_limits", "limit_problems", "render_diagnosis"]

SEVERITY_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
SUMMARY_FINDINGS = 3
SHAPES_SHOWN = 5
NOT_CHECKED_LINE = 700  # one line per source now also lists the causes it blocked
_NOTE_RESERVE = 400  # characters kept free for the "did not fit" note


@dataclass
class RenderedDiagnosis:
    text: str  # notification / fallback text; always names the cluster
    summary: list[dict[str, Any]]
    details: list[dict[str, Any]]
    overflow: str | None  # full plain-text report, when the details did not fit
    overflow_filename: str


# --------------------------------------------------------------------------- small helpers


def esc(text: object, limit: int | None = None) -> str:
    s = slack_escape(str(text))
    return truncate(s, limit) if limit else s


def window_text(w: TimeWindow) -> str:
    fmt_end = "%H:%M" if w.start.date() == w.end.date() else "%Y-%m-%d %H:%M"
    return f"{w.start:%Y-%m-%d %H:%M}–{w.end.strftime(fmt_end)} UTC ({w.label})"


def grafana_link(url: str | None, w: TimeWindow) -> str | None:
    """The dashboard URL with from/to (ms) set to the window, replacing any from/to already there."""
    if not url:
        return None
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("from", "to")]
    query += [("from", str(int(w.start.timestamp() * 1000))), ("to", str(int(w.end.timestamp() * 1000)))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def mrkdwn_link(url: str, label: str) -> str:
    # `<`, `>` and `|` would end the link early; they are never legal unescaped in a URL anyway.
    safe = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")
    return f"<{safe}|{esc(label)}>"


def _section(text: str) -> dict[str, Any]:
    return SectionBlock(text=MarkdownTextObject(text=text)).to_dict()


def _context(text: str) -> dict[str, Any]:
    return ContextBlock(elements=[MarkdownTextObject(text=text)]).to_dict()


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split on line boundaries into chunks <= limit (a single over-long line is cut visibly)."""
    chunks: list[str] = []
    cur = ""
    for line in text.split("\n"):
        if len(line) > limit:
            line = truncate(line, limit)
        candidate = f"{cur}\n{line}" if cur else line
        if len(candidate) > limit:
            if cur:
                chunks.append(cur)
            cur = line
        else:
            cur = candidate
    if cur.strip():
        chunks.append(cur)
    return chunks


def _code_block(lines: list[str]) -> str:
    return "```" + "\n".join(slack_code(x) for x in lines) + "```"


# --------------------------------------------------------------------------- summary


def header_text(d: Diagnosis) -> str:
    cluster = d.request.cluster
    verdict = d.verdict.strip() or ("looks healthy" if d.is_healthy else f"{len(d.findings)} finding(s)")
    text = verdict if verdict.startswith(cluster) else f"{cluster}: {verdict}"
    return truncate(text, MAX_HEADER_TEXT)


def fallback_text(d: Diagnosis) -> str:
    text = header_text(d)
    if not text.startswith(d.request.cluster):
        text = f"{d.request.cluster}: {text}"
    return truncate(slack_escape(text), MAX_FALLBACK_TEXT)


def finding_line(f: Finding) -> str:
    icon = SEVERITY_ICON.get(f.severity, ":white_circle:")
    return f"{icon} *{esc(f.title, 300)}*\n{esc(f.summary, 600)}"


def context_line(d: Diagnosis, grafana_url: str | None = None) -> str:
    w = d.request.window
    parts = [f"Window {window_text(w)}"]
    if d.request.collection:
        parts.append(f"collection `{slack_code(d.request.collection)}`")
    if d.evidence.milvus_version:
        parts.append(f"Milvus {esc(d.evidence.milvus_version, 40)}")
    if d.elapsed_s:
        parts.append(f"took {d.elapsed_s:.1f} s")
    link = grafana_link(grafana_url, w)
    if link:
        parts.append(mrkdwn_link(link, "Grafana"))
    return " · ".join(parts)


def action_buttons(d: Diagnosis, diagnosis_id: str | None = None) -> dict[str, Any]:
    req = d.request
    target = buttons.encode(req.cluster, req.collection, req.window, diagnosis_id)
    elements = [ButtonElement(text="Re-run", action_id=buttons.ACTION_RERUN, value=target)]
    if req.window.end - req.window.start < MAX_WINDOW:
        wider = format_duration(min((req.window.end - req.window.start) * 2, MAX_WINDOW))
        elements.append(ButtonElement(text=f"Widen window to {wider}", action_id=buttons.ACTION_WIDEN,
                                      value=target))
    elements.append(ButtonElement(text="Show evidence", action_id=buttons.ACTION_EVIDENCE, value=target))
    return ActionsBlock(block_id="milvus_triage_actions", elements=elements).to_dict()


def summary_blocks(d: Diagnosis, grafana_url: str | None = None, diagnosis_id: str | None = None,
                   with_buttons: bool = True) -> list[dict[str, Any]]:
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=header_text(d), emoji=True))]
    serious = [f for f in d.findings if f.severity in ("critical", "warning")] or d.findings
    if serious:
        lines = [finding_line(f) for f in serious[:SUMMARY_FINDINGS]]
        more = len(serious) - SUMMARY_FINDINGS
        if more > 0:
            lines.append(f"+{more} more in the thread")
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), MAX_SECTION_TEXT))))
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=f":white_check_mark: No slow-search cause found on `{esc(d.request.cluster)}`"
                 f" ({len(d.healthy)} checks healthy).")))
    if d.not_checked:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f":warning: Could not check {len(d.not_checked)} thing(s); see the thread.")]))
    out = [b.to_dict() for b in blocks]
    out.append(_context(context_line(d, grafana_url)))
    if with_buttons:
        out.append(action_buttons(d, diagnosis_id))
    return check_limits(out)


# --------------------------------------------------------------------------- details


def finding_sections(f: Finding, index: int) -> list[dict[str, Any]]:
    icon = SEVERITY_ICON.get(f.severity, ":white_circle:")
    lines = [f"{icon} *{index}. {esc(f.title, 300)}*  _{esc(f.severity)} · {esc(f.cause)}_", esc(f.summary)]
    lines += [f"• {esc(e)}" for e in f.evidence]
    if f.fix_steps:
        lines.append("*Fix*")
        lines += [f"{i}. {esc(step)}" for i, step in enumerate(f.fix_steps, 1)]
    if f.links:
        lines.append(" · ".join(mrkdwn_link(u, u) for u in f.links))
    out = [_section(chunk) for chunk in split_text("\n".join(lines))]
    for snippet in f.code:
        for chunk in split_text(slack_code(snippet), MAX_SECTION_TEXT - 6):
            out.append(_section(f"```{chunk}```"))
    return out


def shape_lines(digest: Any, limit: int = SHAPES_SHOWN) -> list[str]:
    shapes = list(getattr(digest, "shapes", None) or [])[:limit]
    lines = []
    for i, s in enumerate(shapes, 1):
        where = esc(s.collection or "?", 80)
        filt = slack_code(truncate(s.filter_shape or "(no filter)", 200))
        nq = f" · max NQ {s.max_nq:,}" if s.max_nq else ""
        lines.append(f"{i}. `{where}` `{filt}` · {s.count:,} calls · {s.share:.0%} of slow time"
                     f" · p95 {format_ms(s.p95_s * 1000)} · max {format_ms(s.max_s * 1000)}{nq}")
    return lines


def detail_candidates(d: Diagnosis) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for i, f in enumerate(d.findings, 1):
        if blocks:
            blocks.append(DividerBlock().to_dict())
        blocks += finding_sections(f, i)
    if d.healthy:
        text = "*Checked and healthy*\n" + "\n".join(f"• {esc(h)}" for h in d.healthy)
        blocks += [_section(c) for c in split_text(text)]
    if d.not_checked:
        # one line per source; a long repeated connection error is cut here (the file has it whole)
        text = "*Could not check*\n" + "\n".join(f"• {esc(n, NOT_CHECKED_LINE)}" for n in d.not_checked)
        blocks += [_section(c) for c in split_text(text)]
    slow = d.evidence.slowlog
    if slow is not None:
        lines = shape_lines(slow.digest)
        head = (f"*Slow log*: {slow.slow_lines:,} slow requests in the window"
                f" (source {esc(slow.source, 200)})")
        blocks += [_section(c) for c in split_text("\n".join([head, *lines]))]
    if not blocks:
        blocks.append(_section(f"Nothing more to report for `{esc(d.request.cluster)}`."))
    return blocks


def pack(candidates: list[dict[str, Any]], footer: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """As many blocks as fit (count and total size), then the footer; True when some were left out."""
    budget_chars = MAX_TOTAL_CHARS - _NOTE_RESERVE - text_chars(footer)
    budget_blocks = MAX_BLOCKS - 2  # the footer and a possible note
    out: list[dict[str, Any]] = []
    used = 0
    for b in candidates:
        n = text_chars(b)
        if len(out) >= budget_blocks or used + n > budget_chars:
            return [*out, footer], True
        out.append(b)
        used += n
    return [*out, footer], False


def render_diagnosis(d: Diagnosis, grafana_url: str | None = None, diagnosis_id: str | None = None,
                     with_buttons: bool = True) -> RenderedDiagnosis:
    cluster = d.request.cluster
    stamp = d.request.window.end.strftime("%Y%m%dT%H%M")
    filename = f"diagnosis-{cluster}-{stamp}.txt"
    footer = _context(context_line(d, grafana_url))
    details, overflowed = pack(detail_candidates(d), footer)
    overflow = None
    if overflowed:
        details.insert(len(details) - 1, _context(
            f":page_facing_up: Not everything fits in one Slack message: the full report is in the file "
            f"`{esc(filename)}` below."))
        overflow = diagnosis_text(d)
    return RenderedDiagnosis(
        text=fallback_text(d),
        summary=summary_blocks(d, grafana_url, diagnosis_id, with_buttons),
        details=check_limits(details),
        overflow=overflow,
        overflow_filename=filename,
    )


# --------------------------------------------------------------------------- plain text (files)


def diagnosis_text(d: Diagnosis) -> str:
    """The whole diagnosis as plain text, for the overflow file (a file is not mrkdwn: no escaping)."""
    w = d.request.window
    out = [header_text(d), f"window: {window_text(w)}"]
    if d.request.collection:
        out.append(f"collection: {d.request.collection}")
    if d.evidence.milvus_version:
        out.append(f"milvus: {d.evidence.milvus_version}")
    for i, f in enumerate(d.findings, 1):
        out += ["", f"{i}. [{f.severity}] {f.title} ({f.cause})", f"   {f.summary}"]
        out += [f"   - {e}" for e in f.evidence]
        if f.fix_steps:
            out.append("   fix:")
            out += [f"   {n}. {s}" for n, s in enumerate(f.fix_steps, 1)]
        for snippet in f.code:
            out += ["   ---", *("   " + line for line in snippet.splitlines()), "   ---"]
        out += [f"   link: {u}" for u in f.links]
    if d.healthy:
        out += ["", "checked and healthy:", *(f"  - {h}" for h in d.healthy)]
    if d.not_checked:
        out += ["", "could not check:", *(f"  - {n}" for n in d.not_checked)]
    return "\n".join(out) + "\n"

