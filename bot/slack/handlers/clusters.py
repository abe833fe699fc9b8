"""`clusters`: the clusters this channel and user may ask about, with a one-line health each."""

from __future__ import annotations

import logging

from bot.escape import slack_escape
from bot.slack.access import allowed
from bot.slack.context import BotContext
from bot.slack.handlers.target import ReplyTarget, tell
from bot.slack.handlers.triage import error_text

log = logging.getLogger(__name__)


def visible_clusters(ctx: BotContext, target: ReplyTarget) -> list[str]:
    return [c.name for c in ctx.config.clusters if allowed(c, target.channel, target.user)]


def run_clusters(ctx: BotContext, target: ReplyTarget) -> None:
    from bot.commands.clusters import check_clusters

    names = visible_clusters(ctx, target)
    hidden = len(ctx.config.clusters) - len(names)
    try:
        results = check_clusters(ctx.config, names)
    except Exception as e:
        log.exception("cluster health failed")
        ctx.metrics.command("clusters", "error")
        tell(ctx, target, error_text("could not check the clusters", e), ephemeral=target.trigger != "mention")
        return
    lines = ["*Clusters*"]
    for r in results:
        icon = ":large_green_circle:" if r.prometheus == "ok" else ":red_circle:"
        desc = f" ({slack_escape(r.description)})" if r.description else ""
        lines.append(f"{icon} {slack_escape(r.line())}{desc}")
    if not results:
        lines.append("No cluster may be asked about from here.")
    if hidden:
        lines.append(f"_{hidden} more cluster(s) are not available in this channel or to you._")
    ctx.metrics.command("clusters", "ok")
    tell(ctx, target, "\n".join(lines), ephemeral=target.trigger != "mention")
