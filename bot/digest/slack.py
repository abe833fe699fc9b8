"""Block Kit for `/milvus slowlog`: the digest's profile and top shapes, inside Slack's limits.

`digest_blocks(digest, cluster, top)` -> blocks (as dicts, built with slack_sdk models) for the
message; `digest_text(digest)` -> the full text report for the file upload. Every string from the
log (collections, filters, rewrites, traces) goes through bot.escape.slack_escape / slack_code,
and is clipped before escaping so an entity is never cut in half.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.digest.model import Digest, ShapeStats
from bot.digest.report import fold, render_text, secs, shape_item, when
from bot.escape import slack_code, slack_escape, truncate
from bot.format import format_value
from bot.slack.limits import MAX_BLOCKS, MAX_HEADER_TEXT, MAX_SECTION_TEXT, MAX_TOTAL_CHARS, text_chars

FILTER_CHARS = 300  # of a filter shape or a rewrite, before escaping
TABLE_ITEM_CHARS = 48
_RESERVE = 600  # characters kept for the closing context blocks


def digest_text(digest: Digest) -> str:
    """The full report (every shape of the digest), for the file attached to the reply."""
    return render_text(digest)


def _code(text: str, limit: int) -> str:
    return slack_code(truncate(text, limit))


def _section(text: str) -> dict[str, Any]:
    return SectionBlock(text=MarkdownTextObject(text=text[:MAX_SECTION_TEXT])).to_dict()


def _context(text: str) -> dict[str, Any]:
    return ContextBlock(elements=[MarkdownTextObject(text=text[:MAX_SECTION_TEXT])]).to_dict()


def _table(digest: Digest, shown: list[ShapeStats], misc: ShapeStats | None) -> str:
    rows = [f"{'#':>4} {'shape':<14} {'total':>9} {'share':>6} {'calls':>6} {'p95':>8} {'max':>8}  item"]
    entries = [(str(i), s) for i, s in enumerate(shown, 1)]
    entries += [(f"O{i}", s) for i, s in enumerate(digest.outliers, 1)]
    if misc is not None:
        entries.append(("MISC", misc))
    for rank, s in entries:
        p95 = "-" if s.fingerprint == "MISC" else secs(s.p95_s)
        shape = "0xMISC" if s.fingerprint == "MISC" else s.fingerprint
        rows.append(f"{rank:>4} {shape:<14} {s.total_s:>8,.0f}s {s.share:>6.1%} {s.count:>6,}"
                    f" {p95:>8} {secs(s.max_s):>8}  {truncate(shape_item(s), TABLE_ITEM_CHARS)}")
    return "\n".join(rows)


def _shape_text(rank: str, s: ShapeStats, detail: bool) -> str:
    nq = f" · max NQ {s.max_nq:,}" if s.max_nq is not None else ""
    per_nq = f" · per-NQ p50 {secs(s.per_nq_p50_s)}" if s.per_nq_p50_s is not None else ""
    tag = " · _rare but very slow_" if s.outlier else ""
    lines = [
        f"*{rank}.* `{s.fingerprint}` {slack_escape(s.kind)} on `{_code(s.collection or '?', 80)}`"
        f" · *{s.share:.0%}* of slow time · {s.count:,} calls{tag}",
        f"p50 {secs(s.p50_s)} · p95 {secs(s.p95_s)} · max {secs(s.max_s)}{per_nq}{nq}",
        f"filter `{_code(s.filter_shape or '(no filter)', FILTER_CHARS)}`",
    ]
    if detail:
        a = s.analysis
        for name, n in a.or_chains.items():
            lines.append(f":warning: OR chain of {n} equalities on `{_code(name, 80)}`")
        if a.rewritten:
            lines.append(f":bulb: rewrite as `{_code(a.rewritten, FILTER_CHARS)}`")
        if a.leading_wildcard_like:
            lines.append("leading-wildcard `like` on " + ", ".join(f"`{_code(f, 80)}`" for f in a.leading_wildcard_like))
        if a.json_paths:
            lines.append("JSON paths " + ", ".join(f"`{_code(p, 80)}`" for p in a.json_paths[:5]))
        if a.unindexed_fields:
            lines.append("no scalar index on " + ", ".join(f"`{_code(f, 80)}`" for f in a.unindexed_fields[:8]))
    return "\n".join(lines)


def digest_blocks(digest: Digest, cluster: str, top: int) -> list[dict[str, Any]]:
    """The reply for `/milvus slowlog`: header, totals, profile table, one section per top shape."""
    shown, misc = fold(digest, max(0, top))
    blocks: list[dict[str, Any]] = [
        HeaderBlock(text=PlainTextObject(text=truncate(f"{cluster}: slow-search digest", MAX_HEADER_TEXT))).to_dict(),
    ]
    if digest.total_count == 0:
        blocks.append(_section(f"No slow requests in the log of `{slack_code(cluster)}` for this window."))
        return blocks
    summary = (f"*{digest.total_count:,}* slow requests · *{format_value(digest.total_s, 's')}* of slow time"
               f" · {digest.shape_count:,} shapes\n{when(digest.first_seen)} → {when(digest.last_seen)}")
    if digest.overflow_count:
        summary += f"\n:warning: more than {digest.max_shapes:,} shapes: {digest.overflow_count:,} requests in MISC"
    blocks.append(_section(summary))
    table = _table(digest, shown, misc)
    blocks.append(_section(f"```{slack_code(truncate(table, MAX_SECTION_TEXT - 10))}```"))

    candidates = [(str(i), s) for i, s in enumerate(shown, 1)]
    candidates += [(f"O{i}", s) for i, s in enumerate(digest.outliers, 1)]
    used = text_chars(blocks)
    left_out = 0
    for rank, s in candidates:
        block = _section(_shape_text(rank, s, detail=True))
        if text_chars(block) + used > MAX_TOTAL_CHARS - _RESERVE:
            block = _section(_shape_text(rank, s, detail=False))
        if text_chars(block) + used > MAX_TOTAL_CHARS - _RESERVE or len(blocks) >= MAX_BLOCKS - 2:
            left_out += 1
            continue
        blocks.append(block)
        used += text_chars(block)
    notes = []
    if misc is not None:
        notes.append(f"MISC: {misc.count:,} calls in {misc.shape_count:,} more shapes ({misc.share:.0%} of slow time)")
    if left_out:
        notes.append(f"{left_out} shapes did not fit here")
    notes.append("full report in the attached file")
    blocks.append(_context(" · ".join(notes)))
    return blocks
