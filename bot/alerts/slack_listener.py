"""Bolt listener for alert channels: Alertmanager / Grafana messages -> bot.alerts.lifecycle.

The listener only matches messages in alert channels that carry attachments (how both tools
post), including edits (`message_changed`), and never our own messages. Everything else falls
through to other `message` listeners, so register this one before any catch-all message listener.
Bolt acks events itself; the work here is one store statement, the rest runs on ctx.executor.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.alerts.lifecycle import AlertHandler
from bot.alerts.recognise import alert_channels
from bot.alerts.slack_message import message_of

log = logging.getLogger(__name__)

_SUBTYPES = {None, "bot_message", "message_changed"}


def is_own_message(msg: dict[str, Any], ctx: Any) -> bool:
    own_user = getattr(ctx, "bot_user_id", None)
    own_bot = getattr(ctx, "bot_id", None)
    profile = msg.get("bot_profile") if isinstance(msg.get("bot_profile"), dict) else {}
    return bool((own_user and (msg.get("user") == own_user or profile.get("user_id") == own_user))
                or (own_bot and msg.get("bot_id") == own_bot))


def make_matcher(ctx: Any) -> Any:
    def is_alert_message(event: dict[str, Any]) -> bool:
        if event.get("type") != "message" or event.get("subtype") not in _SUBTYPES:
            return False
        if event.get("channel") not in alert_channels(ctx.config):
            return False
        msg, _ = message_of(event)
        return bool(msg.get("attachments")) and not is_own_message(msg, ctx)

    return is_alert_message


def register(app: App, ctx: Any, handler: AlertHandler | None = None) -> AlertHandler:
    """Attach the alert-channel listener to `app`; returns the handler (tests drain it)."""
    handler = handler or AlertHandler(ctx)

    @app.event("message", matchers=[make_matcher(ctx)])
    def on_alert_message(event: dict[str, Any], body: dict[str, Any], request: Any) -> None:
        retry = request.headers.get("x-slack-retry-num", [None])[0] if request is not None else None
        outcomes = handler.on_slack_event(event)
        if outcomes or retry:
            log.info("alert message %s in %s (retry %s): %s", event.get("ts"), event.get("channel"),
                     retry or 0, outcomes or "not a Milvus alert")

    return handler
