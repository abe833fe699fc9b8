"""build_app(ctx): the Bolt app with every listener registered by kind."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.alerts.slack_listener import register as register_alert_listener
from bot.slack.client import SIGNING_SECRET_ENV, require_env
from bot.slack.context import BotContext

# The handlers are imported here, at start, rather than lazily on the first command's ack path.
from bot.slack.handlers import clusters, evidence, handoff, slowlog, triage  # noqa: F401
from bot.slack.listeners import actions, commands, mentions

log = logging.getLogger(__name__)


def build_app(ctx: BotContext, *, socket_mode: bool = False, signing_secret: str | None = None) -> App:
    """HTTP mode verifies every request's signature (SLACK_SIGNING_SECRET); Socket Mode needs none.

    process_before_response=True: Bolt answers Slack when the listener returns, and every listener
    here returns right after ack() having handed the slow part to ctx.executor, so the ack is not
    delayed by Bolt's ack-polling thread and nothing runs after the response in a dying request.
    """
    secret = signing_secret or (None if socket_mode else require_env(SIGNING_SECRET_ENV))
    app = App(
        client=ctx.client,
        signing_secret=secret or "",
        process_before_response=True,
        token_verification_enabled=True,  # auth.test once at start, not on the first request's ack path
        request_verification_enabled=not socket_mode,
        ignoring_self_events_enabled=True,
        logger=logging.getLogger("bot.slack.bolt"),
    )
    commands.register(app, ctx)
    mentions.register(app, ctx)
    actions.register(app, ctx)
    # Before the catch-all below: Bolt runs only the first listener that matches a message.
    register_alert_listener(app, ctx)

    @app.event("message")
    def _other_messages() -> None:
        """Channel messages nobody else claimed: ack them so Slack does not retry (we read alert channels)."""

    @app.error
    def _on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener: %s: %s", type(error).__name__, error)
        ctx.metrics.command("listener", "error")

    return app

