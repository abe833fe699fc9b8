"""`handoff [12h | since 08:00]`: the shift handoff from the history store (bot.handoff)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.escape import slack_escape, truncate
from bot.handoff import build_handoff, handoff_blocks, handoff_text
from bot.slack.context import BotContext
from bot.slack.handlers.target import ReplyTarget, reply_blocks, tell
from bot.slack.handlers.triage import error_text
from bot.timewindow import parse_duration

log = logging.getLogger(__name__)
DEFAULT_SPAN = "12h"


def run_handoff(ctx: BotContext, since: datetime | None, span: str | None, target: ReplyTarget) -> None:
    if ctx.store is None:
        ctx.metrics.command("handoff", "unavailable")
        tell(ctx, target, ":warning: no history store is configured (`store.url` in clusters.yaml or "
                          "`DATABASE_URL`), so there is nothing to hand off.")
        return
    start = since or datetime.now(UTC) - parse_duration(span or DEFAULT_SPAN)
    try:
        handoff = build_handoff(ctx.store, ctx.config, start)
        blocks = handoff_blocks(handoff)
        text = handoff_text(handoff)
        # The fallback text carries finding titles and collection names: escape it like the blocks.
        reply_blocks(ctx, target, blocks, truncate(slack_escape(text), 3000))
        ctx.metrics.command("handoff", "ok")
    except Exception as e:
        log.exception("handoff failed")
        ctx.metrics.command("handoff", "error")
        tell(ctx, target, error_text("could not build the handoff", e))
