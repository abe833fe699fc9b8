"""Start the real HTTP app (uvicorn on a free loopback port) wired to the fake Slack Web API."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from slack_sdk.models.blocks import Block

from bot.config import AppConfig, parse_config
from bot.slack.app import build_app
from bot.slack.blocks import check_limits
from bot.slack.client import make_web_client
from bot.slack.context import BotContext, build_context
from bot.store import Store
from bot.web import create_web_app
from tests.fixtures.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, free_port, sign

DEAD_PROMETHEUS = "http://127.0.0.1:9"  # the discard port: connection refused at once


def slow_line(at: datetime, dsl: str, collection: str = "my_repos", seconds: float = 6.4, nq: int = 1) -> str:
    """A Milvus 2.5.13+ text-format `Search slow` line (the format in the seed article)."""
    esc_dsl = dsl.replace("\\", "\\\\").replace('"', '\\"')
    stamp = at.strftime("%Y/%m/%d %H:%M:%S.%f")[:-3] + " +00:00"
    return (f'[{stamp}] [INFO] [proxy/impl.go:3141] ["Search slow"] [traceID=9100b3092108604716f1472e4c7d54e4] '
            f'[role=proxy] [db=default] [collection={collection}] [partitions="[]"] [dsl="{esc_dsl}"] '
            f'[len(PlaceholderGroup)=8204] [OutputFields="[user,repo]"] '
            f'[search_params="[{{\\"key\\":\\"topk\\",\\"value\\":\\"10\\"}},{{\\"key\\":\\"metric_type\\",'
            f'\\"value\\":\\"COSINE\\"}},{{\\"key\\":\\"anns_field\\",\\"value\\":\\"vector\\"}},'
            f'{{\\"key\\":\\"params\\",\\"value\\":\\"{{\\\\\\"nprobe\\\\\\":256}}\\"}}]"] '
            f'[ConsistencyLevel=Strong] [useDefaultConsistency=true] [guarantee_timestamp=460318735832711168] '
            f'[nq={nq}] [duration={seconds}s] [durationPerNq={seconds / nq}s]')


def write_slow_log(path: Path, now: datetime | None = None) -> Path:
    now = now or datetime.now(UTC)
    lines = []
    for i in range(12):
        lines.append(slow_line(now - timedelta(minutes=2 + i), 'user == "<!channel>" && repo == "x"',
                               seconds=5.5 + i * 0.3))
        lines.append('[2025/08/23 19:22:19.900 +00:00] [INFO] [proxy/impl.go:1] ["ordinary line"]')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bot_config(log_glob: str, prometheus_url: str = DEAD_PROMETHEUS) -> AppConfig:
    return parse_config({
        "clusters": [
            {"name": "prod-eu", "prometheus": {"url": prometheus_url, "timeout_s": 2},
             "logs": {"files": log_glob}, "milvus_version": "2.5.14",
             "grafana_url": "https://grafana.example/d/milvus?orgId=1&from=now-1h",
             "access": {"channels": ["C0PRODEU1", "C0PRODEU2"]}},
            {"name": "prod-us", "prometheus": {"url": prometheus_url, "timeout_s": 2},
             "access": {"users": ["U0BOB0001"]}},
        ],
        "store": {"url": "sqlite:///:memory:"},
    }, source="test-clusters.yaml")


@dataclass
class BotServer:
    url: str
    ctx: BotContext
    fake: FakeSlack
    server: uvicorn.Server

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
             timestamp: int | None = None) -> httpx.Response:
        h = {"Content-Type": content_type, **sign(body, timestamp)}
        h.update(headers or {})
        return httpx.post(f"{self.url}/slack/events", content=body, headers=h, timeout=10)

    def command(self, body: str, **kw: Any) -> httpx.Response:
        return self.post(body, "application/x-www-form-urlencoded", **kw)

    def event(self, body: str, **kw: Any) -> httpx.Response:
        return self.post(body, "application/json", **kw)


def start_bot(fake: FakeSlack, config: AppConfig, workers: int = 4, store: Store | None = None) -> BotServer:
    """`store`: the history store the bot records to and reads handoffs from (None: no store)."""
    client = make_web_client(token=BOT_TOKEN, base_url=fake.base_url)
    ctx = build_context(config, client=client, store=store, open_store=False, workers=workers)
    app = build_app(ctx, signing_secret=SIGNING_SECRET)
    web = create_web_app(ctx, app, extra_routes=[])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True, name="bot-http")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return BotServer(f"http://127.0.0.1:{port}", ctx, fake, server)


def stop_bot(bot: BotServer) -> None:
    bot.server.should_exit = True
    bot.ctx.shutdown()


def posted_blocks(params: dict) -> list[dict]:
    """The blocks of a recorded Web API call (form calls carry them as a JSON string)."""
    b = params.get("blocks")
    return json.loads(b) if isinstance(b, str) else b


def assert_valid_blocks(blocks: list[dict]) -> None:
    """Blocks parse and validate with slack_sdk's models and stay inside Slack's message limits."""
    check_limits(blocks)
    for b in blocks:
        model = Block.parse(b)
        assert model is not None
        model.validate_json()
