"""`@milvus-triage slow prod-eu`: the same commands, answered in the thread they were written in."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltRequest

from bot.slack.context import BotContext
from bot.slack.handlers.router import plan
from bot.slack.handlers.target import ReplyTarget
from bot.slack.listeners import submit
from bot.slack.parse import strip_mentions

log = logging.getLogger(__name__)


def handle_mention(ctx: BotContext, body: dict[str, Any], event: dict[str, Any], request: BoltRequest) -> None:
    ctx.metrics.event_received()
    retry = request.headers.get("x-slack-retry-num", [None])[0] if request.headers else None
    event_id = body.get("event_id")
    if retry:
        log.info("Events API retry %s (%s) for %s", retry,
                 (request.headers.get("x-slack-retry-reason") or ["?"])[0], event_id)
    key = str(event_id) if event_id else f"mention:{event.get('channel')}:{event.get('ts')}"
    assert ctx.dedup is not None
    if not ctx.dedup.first_time(key):
        ctx.metrics.duplicates.inc()
        return
    if event.get("bot_id") or event.get("subtype") == "bot_message":
        return  # never answer bots: two bots mentioning each other would loop
    thread_ts = event.get("thread_ts") or event.get("ts")
    target = ReplyTarget(channel=str(event.get("channel", "")), user=event.get("user"), thread_ts=thread_ts,
                         trigger="mention")
    p = plan(ctx, strip_mentions(str(event.get("text", "")), ctx.bot_user_id), target)
    submit(ctx, p, target, placeholder=True)


def register(app: App, ctx: BotContext) -> None:
    @app.event("app_mention")
    def on_mention(body: dict[str, Any], event: dict[str, Any], request: BoltRequest) -> None:
        handle_mention(ctx, body, event, request)
