"""`/milvus slowlog`, `/milvus handoff` and the history record of `/milvus slow`, through the real HTTP app
(uvicorn on loopback, signed requests, the real Bolt app, digest, store and diagnose) and the fake Slack."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import NewIncident, Store, open_store
from bot.store.schema import DiagnosisRow
from tests.fixtures.slack import FakeSlack, permalink, slash_command_body
from tests.slack_support.botserver import (
    BotServer,
    assert_valid_blocks,
    bot_config,
    posted_blocks,
    slow_line,
    start_bot,
    stop_bot,
)
from tests.support.history import make_diagnosis

pytestmark = pytest.mark.timeout(60)

# The slow log: two shapes with known counts; the second names a JSON key that is a Slack broadcast.
HOT = 7  # `user == ? && repo == ?`, 6.0 s .. 12.0 s
JSON_KEY = 3  # `meta["<!channel>"] > ?`, 5.1 s each


@pytest.fixture(scope="module")
def log_glob(tmp_path_factory: pytest.TempPathFactory) -> str:
    logs = tmp_path_factory.mktemp("slowlog")
    now = datetime.now(UTC)
    lines = [slow_line(now - timedelta(minutes=2 + i), f'user == "u{i}" && repo == "r{i}"', seconds=6.0 + i)
             for i in range(HOT)]
    lines += [slow_line(now - timedelta(minutes=3 + i), f'meta["<!channel>"] > {i}', seconds=5.1)
              for i in range(JSON_KEY)]
    lines.append('[2025/08/23 19:22:19.900 +00:00] [INFO] [proxy/impl.go:1] ["ordinary line"]')
    (logs / "proxy.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(logs / "*.log")


@pytest.fixture
def make_bot(fake_slack: FakeSlack, log_glob: str, tmp_path: Path) -> Iterator[Callable[..., BotServer]]:
    """Start the bot, with a fresh SQLite history store (tmp file) in its context when asked."""
    started: list[tuple[BotServer, Store | None]] = []

    def start(with_store: bool = False) -> BotServer:
        store = open_store(f"sqlite:///{tmp_path / 'history.db'}", use_env=False) if with_store else None
        server = start_bot(fake_slack, bot_config(log_glob), store=store)
        started.append((server, store))
        return server

    yield start
    for server, store in started:
        stop_bot(server)
        if store is not None:
            store.close()



def _sections(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_slowlog_posts_top_shapes_with_counts_and_the_digest_file_in_its_thread(
        make_bot: Callable[..., BotServer], fake_slack: FakeSlack) -> None:
    bot = make_bot()
    resp = bot.command(slash_command_body("slowlog prod-eu", response_url=fake_slack.response_url()))
    assert resp.status_code == 200 and "reading the slow log of `prod-eu` over 30m" in resp.text

    post = fake_slack.wait_for("chat.postMessage")[0]
    assert post.params["channel"] == "C0PRODEU1" and "thread_ts" not in post.params
    assert post.params["text"] == f"prod-eu: slow-search digest, {HOT + JSON_KEY} slow requests"
    blocks = posted_blocks(post.params)
    assert_valid_blocks(blocks)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "prod-eu: slow-search digest"}}
    sections = _sections(blocks)
    assert sections[0].startswith(f"*{HOT + JSON_KEY}* slow requests") and "· 2 shapes" in sections[0]
    # one section per shape, ranked by total slow time, each with its call count and filter shape
    shapes = [s for s in sections if re.match(r"\*\d+\.\* `0x", s)]
    assert len(shapes) == 2
    assert shapes[0].startswith("*1.*") and f"· {HOT} calls" in shapes[0]
    assert "filter `user == ? &amp;&amp; repo == ?`" in shapes[0]
    assert shapes[1].startswith("*2.*") and f"· {JSON_KEY} calls" in shapes[1]
    assert 'filter `meta["&lt;!channel&gt;"] &gt; ?`' in shapes[1]  # the logged key is shown, escaped

    # the full digest is a file in the reply's thread, shared by the upload call itself
    ts = fake_slack.reply_of(post)["ts"]
    complete = fake_slack.wait_for("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == "C0PRODEU1" and complete.params["thread_ts"] == ts
    files = json.loads(complete.params["files"])
    assert [f["title"] for f in files] == ["prod-eu: slow-search digest"]
    got_url = fake_slack.of("files.getUploadURLExternal")[0]
    assert got_url.params["filename"] == "slowlog-prod-eu.txt"
    report = fake_slack.of("upload")[0].body.decode()
    assert f"# Slow requests: {HOT + JSON_KEY}   Shapes: 2" in report
    assert "user == ? && repo == ?" in report  # a file is not mrkdwn: its text is the log's, unescaped

    texts = fake_slack.texts()
    assert texts and not [t for t in texts if "<!channel>" in t]


def _seed(store: Store, now: datetime) -> None:
    """prod-eu: 3 diagnoses in the last 12 h (the OR chain twice), 1 older; 2 incidents, one resolved.
    prod-us: 1 diagnosis. The OR chain's collection is a Slack broadcast, as hostile text from a log."""
    hostile = "<!channel>"
    for hours, findings in ((3, [("or_chain_filter", hostile)]),
                            (2, [("or_chain_filter", hostile), ("heavy_nq", None)]),
                            (1, []),
                            (20, [("heavy_nq", None)])):
        at = now - timedelta(hours=hours)
        store.record_diagnosis(make_diagnosis("prod-eu", at, findings), channel="C0PRODEU1", created_at=at)
    at = now - timedelta(minutes=30)
    store.record_diagnosis(make_diagnosis("prod-us", at, [("growing_segments", "docs")]), created_at=at)

    def fire(alert: str, hours: int) -> int:
        fired = now - timedelta(hours=hours)
        inc, created = store.open_incident(NewIncident(
            ident=f"prod-eu|{alert}", firing_key=f"fire|prod-eu|{alert}|{fired.isoformat()}", cluster="prod-eu",
            alertname=alert, fired_at=fired, source="test", channel="C0ALERTS1"), now=fired)
        assert created and inc is not None
        return inc.id

    resolved = fire("MilvusSlowQueries", 5)
    fire("MilvusSearchLatencyHigh", 2)
    store.resolve_incident(incident_id=resolved, resolved_at=now - timedelta(hours=4))


def test_handoff_counts_the_seeded_history_and_escapes_its_fallback_text(
        make_bot: Callable[..., BotServer], fake_slack: FakeSlack) -> None:
    bot = make_bot(with_store=True)
    _seed(bot.ctx.store, datetime.now(UTC))
    resp = bot.command(slash_command_body("handoff 12h", response_url=fake_slack.response_url()))
    assert resp.status_code == 200 and "building the handoff" in resp.text

    post = fake_slack.wait_for("chat.postMessage")[0]
    blocks = posted_blocks(post.params)
    assert_valid_blocks(blocks)
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].endswith("(12h)")
    totals = blocks[1]["elements"][0]["text"]
    assert totals == "2 clusters · 2 fired · 1 resolved · 1 still open · 4 diagnoses"
    eu = next(s for s in _sections(blocks) if s.startswith("*prod-eu*"))
    assert eu.startswith("*prod-eu*: 2 fired · 1 resolved · 1 still open · 3 diagnoses")
    assert "inefficient filtering 2 · healthy 1" in eu  # top causes (the older heavy-NQ one is outside)
    assert "2nd time this week: OR chain on &lt;!channel&gt;" in eu
    us = next(s for s in _sections(blocks) if s.startswith("*prod-us*"))
    assert us.startswith("*prod-us*: 0 fired · 0 resolved · 0 still open · 1 diagnoses")

    # the notification fallback says the same, escaped like the blocks
    text = post.params["text"]
    assert "prod-eu: 2 fired · 1 resolved · 1 still open · 3 diagnoses" in text
    assert "OR chain on &lt;!channel&gt;" in text and "<!channel>" not in text
    assert not [t for t in fake_slack.texts() if "<!channel>" in t]


def test_handoff_without_a_store_says_what_to_configure(make_bot: Callable[..., BotServer],
                                                        fake_slack: FakeSlack) -> None:
    bot = make_bot()
    bot.command(slash_command_body("handoff", response_url=fake_slack.response_url("nostore")))
    answer = fake_slack.wait_for("response_url")[0]
    assert "no history store is configured" in answer.params["text"] and "DATABASE_URL" in answer.params["text"]
    assert fake_slack.of("chat.postMessage") == []


def test_slow_records_one_diagnosis_with_its_thread_and_permalink(make_bot: Callable[..., BotServer],
                                                                  fake_slack: FakeSlack) -> None:
    bot = make_bot(with_store=True)
    store: Store = bot.ctx.store
    bot.command(slash_command_body("slow prod-eu 30m", response_url=fake_slack.response_url()))
    summary = fake_slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.params)[0]
    ts = fake_slack.reply_of(summary)["ts"]
    asked = fake_slack.wait_for("chat.getPermalink")[0]
    assert asked.params == {"channel": "C0PRODEU1", "message_ts": ts}  # a GET: arguments in the query string
    deadline = time.monotonic() + 10
    while store.count_diagnoses() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    with Session(store.read_engine) as s:
        rows = s.scalars(select(DiagnosisRow)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.cluster, row.trigger, row.requested_by) == ("prod-eu", "slash_command", "U0ALICE01")
    assert (row.channel, row.thread_ts) == ("C0PRODEU1", ts)
    assert row.permalink == permalink("C0PRODEU1", ts) == \
        f"https://fake-workspace.slack.com/archives/C0PRODEU1/p{ts.replace('.', '')}"


def test_an_unreachable_prometheus_is_named_once_with_the_causes_it_blocked(
        make_bot: Callable[..., BotServer], fake_slack: FakeSlack) -> None:
    bot = make_bot()
    bot.command(slash_command_body("slow prod-eu 30m", response_url=fake_slack.response_url()))
    summary = fake_slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.params)[0]
    ts = fake_slack.reply_of(summary)["ts"]
    details = fake_slack.wait_for("chat.postMessage", where=lambda c: c.params.get("thread_ts") == ts)[0]
    section = next(s for s in _sections(posted_blocks(details.params)) if s.startswith("*Could not check*"))
    lines = section.split("\n")[1:]
    assert section.count("Connection refused") == 1 and section.count("127.0.0.1:9") == 1
    metrics = next(line for line in lines if line.startswith("• could not gather Prometheus (metrics)"))
    for cause in ("heavy_workload", "inefficient_filtering", "vector_index", "runtime_environment"):
        assert f"{cause} (" in metrics
    assert not [line for line in lines if "no metrics" in line or line.startswith("• could not check heavy")]
    # the summary's count is the number of lines in the thread
    assert f"Could not check {len(lines)} thing(s)" in json.dumps(posted_blocks(summary.params))
