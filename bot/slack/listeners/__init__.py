"""Listeners by kind (bolt-python-starter-template layout); each module has register(app, ctx)."""

from __future__ import annotations

import logging

from bot.slack.context import BotContext
from bot.slack.handlers.router import Plan
from bot.slack.handlers.target import ReplyTarget, tell

log = logging.getLogger(__name__)


def run_job(ctx: BotContext, p: Plan, target: ReplyTarget, placeholder: bool) -> None:
    """Run a plan's job on the executor thread; any escape becomes a message, never silence."""
    try:
        if p.job is None:
            tell(ctx, target, p.ack_text, ephemeral=p.ephemeral)
            ctx.metrics.command(p.subcommand, "answered")
            return
        if placeholder and not p.ephemeral:
            from bot.slack.deliver import post_text

            try:
                target = target.with_placeholder(post_text(ctx, target.channel, p.ack_text, target.thread_ts))
            except Exception as e:  # the job itself will report where it can
                log.warning("could not post the placeholder (%s)", type(e).__name__)
        p.job(target)
    except Exception as e:
        log.exception("job %s failed", p.subcommand)
        ctx.metrics.command(p.subcommand, "error")
        from bot.slack.handlers.triage import error_text

        tell(ctx, target, error_text(f"`{p.subcommand}` failed", e))


def submit(ctx: BotContext, p: Plan, target: ReplyTarget, placeholder: bool) -> None:
    ctx.executor.submit(run_job, ctx, p, target, placeholder)
