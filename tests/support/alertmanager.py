"""The real Alertmanager (Debian's prometheus-alertmanager) with deploy/alertmanager/alertmanager.yml,
its two receivers pointed at a local recorder, and the timings shortened so a test takes seconds.

Also turns what Alertmanager POSTs to a Slack incoming webhook into the `message` event Slack then
delivers to the bot (bot_message subtype, the attachment with an id, color names as hex, text escaped).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.promlab.server import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "alertmanager"
BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
WEBHOOK_TOKEN = "am-test-token-1234"
# Slack renders these attachment colour names as these hex values in message events.
SLACK_COLORS = {"danger": "a30200", "good": "2eb886", "warning": "daa038"}


def find_binary() -> str | None:
    return next((p for p in (shutil.which(n) for n in BINARY_NAMES) if p), None)


@dataclass
class Recorder:
    """Records POSTs: /alertmanager (the bot's webhook) and /slack (an incoming webhook)."""

    port: int = 0
    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)

    def start(self) -> Recorder:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                data = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def of(self, path: str) -> list[tuple[dict[str, str], Any]]:
        return [(h, b) for p, h, b in self.posts if p == path]

    def wait(self, path: str, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.of(path)
            if len(got) >= count:
                return got
            time.sleep(0.1)
        raise AssertionError(f"expected {count} POSTs to {path}, got {len(self.of(path))}: {self.posts}")

    def close(self) -> None:
        self.server.shutdown()


@dataclass
class RealAlertmanager:
    binary: str
    workdir: Path
    recorder: Recorder
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RealAlertmanager:
        cfg = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
        shutil.copy(DEPLOY / "milvus-triage.tmpl", self.workdir / "milvus-triage.tmpl")
        (self.workdir / "token").write_text(WEBHOOK_TOKEN)
        (self.workdir / "slack-url").write_text(f"http://127.0.0.1:{self.recorder.port}/slack")
        cfg["templates"] = [str(self.workdir / "milvus-triage.tmpl")]
        cfg["global"]["slack_api_url_file"] = str(self.workdir / "slack-url")
        cfg["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        for r in cfg["receivers"]:
            for w in r.get("webhook_configs", []):
                w["url"] = f"http://127.0.0.1:{self.recorder.port}/alertmanager"
                w["http_config"]["authorization"]["credentials_file"] = str(self.workdir / "token")
        (self.workdir / "alertmanager.yml").write_text(yaml.safe_dump(cfg))
        self.port = free_port()
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.workdir / 'alertmanager.yml'}",
             f"--storage.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", f"--web.external-url=http://127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "alertmanager.log", "wb"))  # noqa: SIM115
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("Alertmanager did not start: " + (self.workdir / "alertmanager.log").read_text()[-2000:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        r = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        r.raise_for_status()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _slack_escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_event_from_incoming_webhook(payload: dict[str, Any], channel: str, ts: str) -> dict[str, Any]:
    """The `message` event Slack delivers after an incoming-webhook post of `payload`."""
    attachments = []
    for i, att in enumerate(payload.get("attachments", []), 1):
        a = {k: v for k, v in att.items() if v not in ("", None, [])}
        for key in ("title", "text", "fallback", "pretext", "footer"):
            if key in a:
                a[key] = _slack_escape_text(a[key])
        if "color" in a:
            a["color"] = SLACK_COLORS.get(a["color"], a["color"].lstrip("#"))
        a["id"] = i
        attachments.append(a)
    return {"type": "message", "subtype": "bot_message", "text": _slack_escape_text(payload.get("text", "")),
            "ts": ts, "username": payload.get("username", "Alertmanager"), "bot_id": "B0ALERTMGR",
            "attachments": attachments, "channel": channel, "event_ts": ts, "channel_type": "channel"}
