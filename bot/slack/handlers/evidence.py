"""Show evidence: the signal table with each signal's PromQL, and the slow-log sample, in the thread."""

from __future__ import annotations

import logging

from bot.escape import slack_code, truncate
from bot.format import format_ratio_x, format_value
from bot.models import Diagnosis
from bot.slack.blocks import esc, window_text
from bot.slack.context import BotContext
from bot.slack.handlers.target import ReplyTarget, reply_blocks, tell
from bot.slack.handlers.triage import diagnose_timed, error_text
from bot.slack.limits import MAX_SECTION_TEXT

log = logging.getLogger(__name__)
SAMPLE_LINES = 5
INLINE_LIMIT = 2 * MAX_SECTION_TEXT  # longer than this goes into a file, with a short note inline


def signal_table(d: Diagnosis) -> str:
    rows = [("signal", "value", "baseline", "vs base")]
    for name, s in sorted(d.evidence.signals.items()):
        ratio = s.ratio_to_baseline
        rows.append((name, format_value(s.value, s.unit) if s.available else (s.unavailable or "n/a"),
                     format_value(s.baseline, s.unit), format_ratio_x(ratio) if ratio else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def queries_text(d: Diagnosis) -> str:
    return "\n".join(f"{name}: {s.query}" for name, s in sorted(d.evidence.signals.items()) if s.query)


def sample_lines(d: Diagnosis, n: int = SAMPLE_LINES) -> list[str]:
    slow = d.evidence.slowlog
    return [truncate(r.raw, 400) for r in (slow.requests if slow else [])[:n] if r.raw]


def evidence_report(d: Diagnosis) -> str:
    """Plain text for the file: everything, unescaped (a file is not mrkdwn)."""
    parts = [f"{d.request.cluster}: evidence for {window_text(d.request.window)}", "", signal_table(d), "",
             "PromQL:", queries_text(d) or "(none)", "", "slow-log sample:"]
    slow = d.evidence.slowlog
    parts += [r.raw for r in (slow.requests if slow else []) if r.raw] or ["(none)"]
    parts += ["", "missing:", *(f"{m.source}: {m.what}: {m.reason}" for m in d.evidence.missing)]
    return "\n".join(parts) + "\n"


def evidence_blocks(d: Diagnosis) -> tuple[list[dict], bool]:
    """Blocks for the thread, and whether the full report should go along as a file.

    Parts that fit (each <= one section, together <= INLINE_LIMIT) are shown inline in this order;
    the others are named in a note and the complete report (every signal, its PromQL, the sample)
    is attached as a file.
    """
    cluster = esc(d.request.cluster)
    parts: list[tuple[str, str]] = [("signal table", "*Signals* (window vs. same window a day earlier)\n```"
                                     + slack_code(signal_table(d)) + "```")]
    samples = sample_lines(d)
    if samples:
        parts.append(("slow-log sample", "*Slow-log sample* (slowest first)\n```"
                      + slack_code("\n".join(samples)) + "```"))
    q = queries_text(d)
    if q:
        parts.append(("PromQL", "*PromQL*\n```" + slack_code(q) + "```"))
    head = f"*Evidence for `{cluster}`*, {esc(window_text(d.request.window))}"
    shown, left_out, used = [head], [], len(head)
    for name, text in parts:
        if len(text) <= MAX_SECTION_TEXT and used + len(text) <= INLINE_LIMIT:
            shown.append(text)
            used += len(text)
        else:
            left_out.append(name)
    if left_out:
        shown.append(f":page_facing_up: The {' and the '.join(left_out)} did not fit here: everything is in the "
                     "attached file.")
    return [{"type": "section", "text": {"type": "mrkdwn", "text": t}} for t in shown], bool(left_out)


def run_show_evidence(ctx: BotContext, d: Diagnosis | None, rerun: object, target: ReplyTarget) -> None:
    """`d` from the recent cache, else `rerun()` builds the same window again (read-only)."""
    try:
        if d is None:
            d = diagnose_timed(ctx, rerun())  # type: ignore[operator]
        blocks, as_file = evidence_blocks(d)
        files = [(evidence_report(d), f"evidence-{d.request.cluster}.txt", f"{d.request.cluster}: evidence")] \
            if as_file else []
        reply_blocks(ctx, target, blocks, f"{esc(d.request.cluster)}: evidence", files)
        ctx.metrics.command("evidence", "ok")
    except Exception as e:
        log.exception("show evidence failed")
        ctx.metrics.command("evidence", "error")
        tell(ctx, target, error_text("could not show the evidence", e))
