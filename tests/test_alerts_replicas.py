"""Two bot replicas (real processes, production wiring) sharing one store, on SQLite and PostgreSQL.

Slack delivers the same alert event to both at the same moment, retries it to both, and Alertmanager's
webhook brings the same firing to both too: exactly one diagnosis comes out, then one resolved line.
Replies are counted at the fake Slack Web API both replicas post to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fixtures.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, free_port, sign
from tests.support.alert_bot import RESOLVED_PREFIX, is_diagnosis_summary
from tests.support.alert_messages import am_template_event, envelope, webhook_alert, webhook_payload

REPO = Path(__file__).resolve().parents[1]
CH = "C0ALERTS"
TOKEN = "replica-webhook-token"


def _start(config: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.alert_app", str(config), str(port)],
                            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY"):
        err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        raise AssertionError(f"replica did not start: {line!r} {err[-3000:]}")


@pytest.fixture
def replicas(tmp_path: Path, fake_slack: FakeSlack, db_url: str) -> Iterator[list[str]]:
    cfg = {"clusters": [{"name": "prod-eu", "alert_channel": "C0ALERTEU"},
                        {"name": "prod-us", "alert_channel": "C0ALERTUS"}],
           "alerts": {"channels": [CH], "webhook_token_env": "AM_TOKEN", "resolve_wait_s": 20},
           "store": {"url": "sqlite:///unused.db"}}
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.base_url,
               DATABASE_URL=db_url, AM_TOKEN=TOKEN, PYTHONPATH=str(REPO))
    started = [_start(path, env) for _ in range(2)]  # both migrate the empty store at once
    try:
        for proc, _ in started:
            _wait_ready(proc)
        yield [url for _, url in started]
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.stdin.close()  # type: ignore[union-attr]
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _send_all_at_once(requests: list[tuple[str, str, dict[str, str]]]) -> list[int]:
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = [0] * len(requests)

    def go(i: int, url: str, body: str, headers: dict[str, str]) -> None:
        barrier.wait()
        statuses[i] = httpx.post(url, content=body, headers=headers, timeout=30).status_code

    threads = [threading.Thread(target=go, args=(i, *r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def _event_request(base: str, event: dict, event_id: str, retry: int | None = None) -> tuple[str, str, dict]:
    body = envelope(event, event_id)
    headers = {"Content-Type": "application/json", **sign(body)}
    if retry:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return f"{base}/slack/events", body, headers


def _settle(fake: FakeSlack, quiet_s: float = 1.2, timeout: float = 60.0) -> None:
    """Wait until the replicas stop calling Slack (their background work is done)."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(fake.calls)
        if n != seen:
            seen, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.1)


def test_two_replicas_reply_exactly_once(replicas: list[str], fake_slack: FakeSlack) -> None:
    r1, r2 = replicas
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
    eu = {"alertname": "MilvusSearchLatencyHigh", "cluster": "prod-eu", "severity": "critical"}
    us = dict(eu, cluster="prod-us")

    # Baseline: one delivery to one replica -> what one diagnosis posts in its thread.
    base_ts = f"{starts.timestamp() + 2:.6f}"
    base = am_template_event("firing", [{"status": "firing", "labels": us, "annotations": {}, "startsAt": starts,
                                         "fingerprint": "aa01"}], CH, base_ts)
    assert _send_all_at_once([_event_request(r1, base, "EvBase")]) == [200]
    fake_slack.wait_for("chat.postMessage", where=is_diagnosis_summary, timeout=60)
    _settle(fake_slack)
    per_diagnosis = len([c for c in fake_slack.of("chat.postMessage") if c.params.get("thread_ts") == base_ts])
    assert per_diagnosis >= 1
    fake_slack.reset()

    # The same firing, everywhere at once: the event to both replicas, its retries to both,
    # and the Alertmanager webhook of the same firing to both.
    ts = f"{starts.timestamp() + 3:.6f}"
    alert = {"status": "firing", "labels": eu, "annotations": {"summary": "p99 2 s"}, "startsAt": starts,
             "fingerprint": "bb02"}
    event = am_template_event("firing", [alert], CH, ts)
    hook = json.dumps(webhook_payload("firing", [webhook_alert("firing", eu, starts, fingerprint="bb02")]))
    hook_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    statuses = _send_all_at_once([
        _event_request(r1, event, "EvSame"), _event_request(r2, event, "EvSame"),
        _event_request(r1, event, "EvSame", retry=1), _event_request(r2, event, "EvSame", retry=1),
        (f"{r1}/alertmanager", hook, hook_headers), (f"{r2}/alertmanager", hook, hook_headers),
    ])
    assert statuses == [200] * 6
    fake_slack.wait_for("chat.postMessage", where=is_diagnosis_summary, timeout=60)
    _settle(fake_slack)
    summaries = [c for c in fake_slack.of("chat.postMessage") if is_diagnosis_summary(c)]
    assert len(summaries) == 1, [c.params.get("text") for c in summaries]
    thread = summaries[0].params["thread_ts"]
    assert len([c for c in fake_slack.of("chat.postMessage") if c.params.get("thread_ts") == thread]) \
        == per_diagnosis

    # Resolved, also everywhere at once: one line, in the same thread.
    ended = starts + timedelta(minutes=23)
    done_event = am_template_event("resolved", [dict(alert, status="resolved", endsAt=ended)], CH,
                                   f"{ended.timestamp() + 2:.6f}")
    done_hook = json.dumps(webhook_payload("resolved", [webhook_alert("resolved", eu, starts, ended, "bb02")]))
    statuses = _send_all_at_once([
        _event_request(r1, done_event, "EvDone"), _event_request(r2, done_event, "EvDone"),
        _event_request(r2, done_event, "EvDone", retry=1),
        (f"{r1}/alertmanager", done_hook, hook_headers), (f"{r2}/alertmanager", done_hook, hook_headers),
    ])
    assert statuses == [200] * 5
    fake_slack.wait_for("chat.postMessage", where=lambda c: str(c.params.get("text", "")).startswith(
        RESOLVED_PREFIX), timeout=60)
    _settle(fake_slack)
    lines = [c for c in fake_slack.of("chat.postMessage") if str(c.params.get("text", "")).startswith(RESOLVED_PREFIX)]
    assert len(lines) == 1 and lines[0].params["thread_ts"] == thread
    assert lines[0].params["text"].startswith(f"{RESOLVED_PREFIX}23 min; last finding: ")
