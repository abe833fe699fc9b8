"""An in-process bot for the alert tests: a real Bolt App with the alert listener, the webhook routes,
the real BotContext and store, and the fake Slack Web API. Events are dispatched with real signatures.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from slack_bolt import App, BoltRequest
from starlette.applications import Starlette

from bot.alerts.lifecycle import AlertHandler
from bot.alerts.slack_listener import register
from bot.alerts.webhook import make_routes
from bot.config import AppConfig
from bot.models import Diagnosis, TriageRequest
from bot.slack.client import make_web_client
from bot.slack.context import BotContext
from bot.store import Store, open_store
from tests.fixtures.slack import BOT_TOKEN, BOT_USER_ID, SIGNING_SECRET, Call, FakeSlack, sign
from tests.support.alert_messages import envelope
from tests.support.history import make_diagnosis

RESOLVED_PREFIX = ":white_check_mark: resolved after "


def stub_diagnose(request: TriageRequest, config: AppConfig) -> Diagnosis:
    """A diagnosis with one finding (OR chain on my_repos) for the request it was asked for."""
    d = make_diagnosis(request.cluster, datetime.now(UTC), [("or_chain_filter", "my_repos")],
                       trigger=request.trigger, requested_by=None)
    d.request = request
    return d


def is_diagnosis_summary(call: Call) -> bool:
    """post_diagnosis's first message (its details follow in the same thread, marked "(details)")."""
    text = str(call.params.get("text", ""))
    return bool(call.params.get("blocks")) and not text.endswith("(details)")


@dataclass
class AlertBot:
    ctx: BotContext
    app: App
    handler: AlertHandler
    fake: FakeSlack
    store: Store
    web: Starlette

    def event(self, event: dict[str, Any], event_id: str, retry: int | None = None) -> int:
        body = envelope(event, event_id)
        headers: dict[str, str | list[str]] = {"content-type": "application/json", **sign(body)}
        if retry:
            headers["x-slack-retry-num"] = str(retry)
            headers["x-slack-retry-reason"] = "http_timeout"
        resp = self.app.dispatch(BoltRequest(body=body, headers=headers))
        return resp.status

    def webhook(self, payload: dict[str, Any] | str, token: str | None = None) -> httpx.Response:
        """POST /alertmanager through the ASGI app (the same code uvicorn serves)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = payload if isinstance(payload, str) else json.dumps(payload)

        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.web),
                                         base_url="http://bot.test") as client:
                return await client.post("/alertmanager", content=data, headers=headers)

        return asyncio.run(go())

    def drain(self) -> None:
        assert self.handler.drain(30), "alert work did not finish"

    def posts(self, channel: str | None = None, thread_ts: str | None = None) -> list[Call]:
        return [c for c in self.fake.of("chat.postMessage")
                if (channel is None or c.params.get("channel") == channel)
                and (thread_ts is None or c.params.get("thread_ts") == thread_ts)]

    def diagnoses(self, channel: str | None = None, thread_ts: str | None = None) -> list[Call]:
        return [c for c in self.posts(channel, thread_ts) if is_diagnosis_summary(c)]

    def resolved_lines(self, thread_ts: str | None = None) -> list[str]:
        return [str(c.params["text"]) for c in self.posts(None, thread_ts)
                if str(c.params.get("text", "")).startswith(RESOLVED_PREFIX)]

    def close(self) -> None:
        self.drain()
        self.ctx.shutdown()
        self.store.close()


def make_alert_bot(fake: FakeSlack, db_url: str, config: AppConfig, diagnose: Any = stub_diagnose) -> AlertBot:
    client = make_web_client(token=BOT_TOKEN, base_url=fake.base_url)
    store = open_store(db_url, use_env=False)
    ctx = BotContext(config=config, client=client, store=store, bot_user_id=BOT_USER_ID)
    app = App(client=client, signing_secret=SIGNING_SECRET, process_before_response=True,
              token_verification_enabled=False)
    handler = AlertHandler(ctx, diagnose=diagnose)
    register(app, ctx, handler=handler)
    web = Starlette(routes=make_routes(ctx, handler=handler))
    return AlertBot(ctx, app, handler, fake, store, web)
