"""Socket Mode through Bolt's SocketModeHandler against a local WebSocket server (aiohttp).

The fake Web API answers apps.connections.open with this server's ws:// URL; the server sends a
recorded slash-command envelope and collects what the bot sends back.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.slack.app import build_app
from bot.slack.client import make_web_client
from bot.slack.context import build_context
from tests.fixtures.slack import APP_TOKEN, BOT_TOKEN, FakeSlack, free_port
from tests.slack_support.botserver import bot_config, write_slow_log

pytestmark = pytest.mark.timeout(60)

# A slash command as Slack delivers it over Socket Mode (api.slack.com/apis/socket-mode: envelope_id,
# type "slash_commands", accepts_response_payload, payload = the same fields as the HTTP form).
ENVELOPE = {
    "envelope_id": "1d3c79ab-0ffb-41f3-a080-d19e85f53649",
    "payload": {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0000FAKE", "team_domain": "fake-workspace",
        "channel_id": "C0PRODEU1", "channel_name": "milvus-oncall", "user_id": "U0ALICE01", "user_name": "alice",
        "command": "/milvus", "text": "slow prod-eu 30m", "api_app_id": "A0000APP",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T0000FAKE/1/abc",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    },
    "type": "slash_commands",
    "accepts_response_payload": True,
}


class SocketServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="fake-socket-mode")
        self.thread.start()
        assert self._ready.wait(10)

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "debug_info": {"host": "applink-fake"}, "connection_info": {"app_id": "A0000APP"}}))
        await ws.send_str(json.dumps(ENVELOPE))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.received.append(json.loads(msg.data))
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        return ws

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/link", self._ws)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        async def stop() -> None:
            await self.runner.cleanup()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def socket_server() -> Iterator[SocketServer]:
    server = SocketServer()
    yield server
    server.close()


def test_socket_mode_acks_the_envelope_and_handles_the_command(fake_slack: FakeSlack, socket_server: SocketServer,
                                                                tmp_path: Path) -> None:
    fake_slack.ws_url = f"ws://127.0.0.1:{socket_server.port}/link"
    write_slow_log(tmp_path / "proxy.log")
    ctx = build_context(bot_config(str(tmp_path / "*.log")), client=make_web_client(BOT_TOKEN, fake_slack.base_url),
                        open_store=False)
    app = build_app(ctx, socket_mode=True)
    handler = SocketModeHandler(app, APP_TOKEN)
    try:
        handler.connect()
        deadline = time.monotonic() + 15
        while not socket_server.received and time.monotonic() < deadline:
            time.sleep(0.05)
        ack = socket_server.received[0]
        assert ack["envelope_id"] == ENVELOPE["envelope_id"]
        assert "checking `prod-eu` over 30m" in ack["payload"]["text"]
        # apps.connections.open was called with the app-level token, in the header
        opened = fake_slack.wait_for("apps.connections.open")[0]
        assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
        # and the command ran: the diagnosis summary and its thread were posted
        summary = fake_slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.params)[0]
        assert summary.params["channel"] == "C0PRODEU1" and summary.params["text"].startswith("prod-eu")
        ts = fake_slack.reply_of(summary)["ts"]
        fake_slack.wait_for("chat.postMessage", where=lambda c: c.params.get("thread_ts") == ts)
    finally:
        handler.close()
        ctx.shutdown()
        fake_slack.ws_url = None
