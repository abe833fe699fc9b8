"""Buttons: Re-run (same window length, ending now), Widen window (x2 up to 7d, same end), Show evidence.

All read-only. The button value is re-validated on every click like a typed command, and the
clicker must pass the cluster's allow-list.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App

from bot.escape import slack_escape
from bot.slack import buttons
from bot.slack.access import refusal
from bot.slack.context import BotContext
from bot.slack.handlers.target import ReplyTarget, tell
from bot.slack.parse import CommandError

log = logging.getLogger(__name__)


def target_of(body: dict[str, Any]) -> ReplyTarget:
    message = body.get("message") or {}
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    root = message.get("thread_ts") or message.get("ts") or container.get("thread_ts") or container.get("message_ts")
    return ReplyTarget(channel=str(channel), user=(body.get("user") or {}).get("id"), thread_ts=root,
                       response_url=body.get("response_url"), trigger="button")


def run_action(ctx: BotContext, action_id: str, value: str, target: ReplyTarget) -> None:
    from bot.slack.deliver import post_text
    from bot.slack.handlers.evidence import run_show_evidence
    from bot.slack.handlers.triage import build_request, run_triage

    try:
        bt = buttons.decode(value, ctx.config)
    except CommandError as e:
        ctx.metrics.command("button", "invalid")
        tell(ctx, target, f":warning: {e}")
        return
    why = refusal(ctx.config.cluster(bt.cluster), target.channel, target.user)
    if why:
        ctx.metrics.command("button", "refused")
        tell(ctx, target, why)
        return
    if action_id == buttons.ACTION_EVIDENCE:
        run_show_evidence(ctx, ctx.recent.get(bt.diagnosis_id),
                          lambda: build_request(bt.cluster, bt.collection, bt.window, bt.at, target), target)
        return
    if action_id == buttons.ACTION_WIDEN:
        if not bt.can_widen:
            tell(ctx, target, ":information_source: the window is already the maximum of 7d.")
            return
        bt, sub, at = bt.widened(), "widen", bt.at
    else:
        sub, at = "rerun", datetime.now(UTC)
    what = f"`{slack_escape(bt.cluster)}`" + (f" / `{slack_escape(bt.collection)}`" if bt.collection else "")
    try:
        ts = post_text(ctx, target.channel, f":mag: checking {what} over {bt.window} again…", target.thread_ts)
        target = target.with_placeholder(ts)
    except Exception as e:
        log.warning("could not post the placeholder (%s)", type(e).__name__)
    run_triage(ctx, build_request(bt.cluster, bt.collection, bt.window, at, target), target, sub)


def register(app: App, ctx: BotContext) -> None:
    def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        ctx.metrics.event_received()
        ctx.executor.submit(_guarded, ctx, str(action.get("action_id", "")), str(action.get("value", "")),
                            target_of(body))

    for action_id in buttons.ACTIONS:
        app.action(action_id)(on_click)


def _guarded(ctx: BotContext, action_id: str, value: str, target: ReplyTarget) -> None:
    try:
        run_action(ctx, action_id, value, target)
    except Exception as e:
        log.exception("button %s failed", action_id)
        from bot.slack.handlers.triage import error_text

        tell(ctx, target, error_text("that button failed", e))
