"""`/milvus ...`: ack at once with a short message, do the work out of band."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt import Ack, App

from bot.slack.context import BotContext
from bot.slack.handlers.router import plan
from bot.slack.handlers.target import ReplyTarget
from bot.slack.listeners import submit


def handle_command(ctx: BotContext, ack: Ack, body: dict[str, Any]) -> None:
    t0 = time.monotonic()
    ctx.metrics.event_received()
    target = ReplyTarget(channel=str(body.get("channel_id", "")), user=body.get("user_id"),
                         response_url=body.get("response_url"), trigger="slash_command")
    p = plan(ctx, str(body.get("text", "")), target)
    ack(text=p.ack_text)  # ephemeral: only the asker sees "checking…", errors and refusals
    ctx.metrics.stage("ack", time.monotonic() - t0)
    if p.job is None:
        ctx.metrics.command(p.subcommand, "answered")
        return
    submit(ctx, p, target, placeholder=False)


def register(app: App, ctx: BotContext) -> None:
    @app.command(ctx.config.slack.command)
    def on_command(ack: Ack, body: dict[str, Any]) -> None:
        handle_command(ctx, ack, body)
