"""`slowlog <cluster> [collection] [window]`: the slow-search digest (top shapes by total time)."""

from __future__ import annotations

import logging
import time

from bot.digest.slack import digest_blocks, digest_text
from bot.escape import slack_escape
from bot.models import TriageRequest
from bot.slack.blocks import esc, shape_lines, window_text
from bot.slack.context import BotContext
from bot.slack.handlers.target import ReplyTarget, reply_blocks, tell
from bot.slack.handlers.triage import error_text
from bot.slack.limits import BlockLimitError, check_limits

log = logging.getLogger(__name__)
TOP = 10


def _fallback_blocks(digest: object, cluster: str, request: TriageRequest, slow_lines: int) -> list[dict]:
    lines = shape_lines(digest, TOP) or ["(no slow requests in the window)"]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": f"{cluster}: slow-search digest"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
                                          f"{slow_lines:,} slow requests · {window_text(request.window)}"}]},
    ]


def run_slowlog(ctx: BotContext, request: TriageRequest, target: ReplyTarget) -> None:
    from bot.digest import DigestBuilder
    from bot.slowlog.collect import collect_slowlog

    cluster = ctx.config.cluster(request.cluster)
    t0 = time.monotonic()
    try:
        builder = DigestBuilder()
        evidence, missing = collect_slowlog(cluster, request.window, request.collection, sinks=[builder.add])
        digest = builder.finish(milvus=None)
    except Exception as e:
        log.exception("slow-log collection failed for %s", cluster.name)
        ctx.metrics.command("slowlog", "error")
        tell(ctx, target, error_text(f"could not read the slow log of `{esc(cluster.name)}`", e))
        return
    ctx.metrics.stage("gather", time.monotonic() - t0)
    for m in missing:
        ctx.metrics.source_failed(m.source)
    if evidence is None:
        why = "; ".join(f"{m.what}: {m.reason}" for m in missing) or "no log source configured"
        ctx.metrics.command("slowlog", "unavailable")
        tell(ctx, target, f":warning: no slow log for `{esc(cluster.name)}`: {slack_escape(why)}", ephemeral=False)
        return
    text = f"{cluster.name}: slow-search digest, {evidence.slow_lines:,} slow requests"
    blocks: list[dict] = []
    for top in (TOP, 5, 3):
        try:
            blocks = check_limits(digest_blocks(digest, cluster.name, top))
            break
        except BlockLimitError as e:
            log.warning("digest blocks over Slack limits with top=%d: %s", top, e)
    if not blocks:  # still over the limits with 3 shapes: a bare list (the file below has everything)
        blocks = _fallback_blocks(digest, cluster.name, request, evidence.slow_lines)
    files = [(digest_text(digest), f"slowlog-{cluster.name}.txt", f"{cluster.name}: slow-search digest")]
    try:
        reply_blocks(ctx, target, blocks, slack_escape(text), files)
        ctx.metrics.command("slowlog", "ok")
    except Exception as e:
        log.exception("posting the digest failed for %s", cluster.name)
        ctx.metrics.command("slowlog", "error")
        tell(ctx, target, error_text(f"could not post the digest of `{esc(cluster.name)}`", e))
