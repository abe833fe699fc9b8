"""The HTTP app for real on loopback (uvicorn), signed requests exactly as Slack sends them, the real
diagnose pipeline (Prometheus unreachable, a slow-log file), and the fake Slack Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.slack import buttons
from tests.fixtures.slack import (
    FakeSlack,
    app_mention_body,
    block_actions_body,
    slash_command_body,
)
from tests.slack_support.botserver import (
    BotServer,
    assert_valid_blocks,
    bot_config,
    posted_blocks,
    start_bot,
    stop_bot,
    write_slow_log,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def bot(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[BotServer]:
    logs = tmp_path / "milvus-logs"
    logs.mkdir()
    write_slow_log(logs / "proxy.log")
    server = start_bot(fake_slack, bot_config(str(logs / "*.log")))
    fake_slack.reset()  # start-up calls (auth.test) are not the test's business
    yield server
    stop_bot(server)



def test_slash_command_is_acked_at_once_then_summary_thread_and_chart(bot: BotServer, fake_slack: FakeSlack) -> None:
    body = slash_command_body("slow prod-eu 30m", response_url=fake_slack.response_url())
    t0 = time.monotonic()
    resp = bot.command(body)
    acked = time.monotonic()
    assert resp.status_code == 200 and acked - t0 < 3.0
    assert "checking `prod-eu`" in resp.text  # Bolt answers a text-only ack as text/plain: ephemeral

    summary = fake_slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.params)[0]
    assert summary.at > acked - 0.05  # nothing was posted before the ack went out
    assert summary.params["channel"] == "C0PRODEU1"
    assert summary.params["text"].startswith("prod-eu")
    ts = fake_slack.reply_of(summary)["ts"]
    details = fake_slack.wait_for("chat.postMessage", where=lambda c: c.params.get("thread_ts") == ts)[0]
    for call in (summary, details):
        assert_valid_blocks(posted_blocks(call.params))
    assert posted_blocks(summary.params)[0]["type"] == "header"
    assert "prod-eu" in posted_blocks(summary.params)[0]["text"]["text"]
    # the evidence that could not be gathered is named in the thread
    assert "Could not check" in json.dumps(posted_blocks(details.params))
    # the chart goes into the summary's thread, in the upload call itself
    complete = fake_slack.wait_for("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == "C0PRODEU1" and complete.params["thread_ts"] == ts
    assert fake_slack.of("upload")[0].body[:8] == b"\x89PNG\r\n\x1a\n"
    # the bot's own metrics count it
    metrics = httpx.get(f"{bot.url}/metrics").text
    assert 'milvus_triage_commands_total{outcome="ok",subcommand="slow"}' in metrics
    assert 'milvus_triage_evidence_source_failures_total{source="metrics"}' in metrics


@pytest.mark.parametrize("tamper", ["signature", "old_timestamp"])
def test_bad_signature_or_stale_timestamp_is_refused_and_nothing_posted(bot: BotServer, fake_slack: FakeSlack,
                                                                        tamper: str) -> None:
    body = slash_command_body("slow prod-eu")
    if tamper == "signature":
        resp = bot.command(body, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    else:
        resp = bot.command(body, timestamp=int(time.time()) - 6 * 60)
    assert resp.status_code == 401
    time.sleep(0.5)
    assert [c.method for c in fake_slack.calls] == []


def test_unknown_cluster_gets_an_ephemeral_list_of_clusters(bot: BotServer, fake_slack: FakeSlack) -> None:
    resp = bot.command(slash_command_body("slow prod-euu"))
    assert resp.status_code == 200
    body = {"text": resp.text}
    assert "unknown cluster `prod-euu`" in body["text"] and "Did you mean `prod-eu`" in body["text"]
    assert "`prod-eu`, `prod-us`" in body["text"]
    time.sleep(0.3)
    assert fake_slack.of("chat.postMessage") == []


def test_unknown_subcommand_gets_the_help(bot: BotServer, fake_slack: FakeSlack) -> None:
    body = {"text": bot.command(slash_command_body("explode")).text}
    assert "unknown subcommand `explode`" in body["text"] and "slowlog <cluster>" in body["text"]


def test_user_or_channel_outside_the_allow_list_is_refused(bot: BotServer, fake_slack: FakeSlack) -> None:
    wrong_channel = {"text": bot.command(slash_command_body("slow prod-eu", channel="C0OTHER99")).text}
    assert "`prod-eu` can only be asked about in <#C0PRODEU1>" in wrong_channel["text"]
    wrong_user = {"text": bot.command(slash_command_body("slow prod-us", user="U0ALICE01")).text}
    assert "you are not on the list" in wrong_user["text"]
    time.sleep(0.3)
    assert fake_slack.of("chat.postMessage") == []


def test_mention_is_answered_in_its_thread_and_retries_are_dropped(bot: BotServer, fake_slack: FakeSlack) -> None:
    body = app_mention_body("<@UBOT0001> slow prod-eu 15m", ts="1700000300.000300",
                            thread_ts="1700000200.000200", event_id="Ev0MENTIONTHREAD")
    assert bot.event(body).status_code == 200
    # Slack retries the same event when it thinks we were slow: same event_id, X-Slack-Retry-Num
    retry = bot.event(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    placeholder = fake_slack.wait_for("chat.postMessage")[0]
    assert placeholder.params["thread_ts"] == "1700000200.000200"
    assert "checking `prod-eu` over 15m" in placeholder.params["text"]
    update = fake_slack.wait_for("chat.update")[0]  # the placeholder becomes the summary
    assert update.params["ts"] == fake_slack.reply_of(placeholder)["ts"]
    assert_valid_blocks(posted_blocks(update.params))
    details = fake_slack.wait_for("chat.postMessage", where=lambda c: "(details)" in c.params.get("text", ""))[0]
    assert details.params["thread_ts"] == "1700000200.000200"
    complete = fake_slack.wait_for("files.completeUploadExternal")[0]
    assert complete.params["thread_ts"] == "1700000200.000200"
    time.sleep(0.3)
    placeholders = [c for c in fake_slack.of("chat.postMessage") if "checking" in c.params.get("text", "")]
    assert len(placeholders) == 1  # the retry did not start a second diagnosis


def test_mention_outside_a_thread_starts_one_at_the_message(bot: BotServer, fake_slack: FakeSlack) -> None:
    bot.event(app_mention_body("<@UBOT0001> help", ts="1700000400.000400", event_id="Ev0MENTIONHELP"))
    eph = fake_slack.wait_for("chat.postEphemeral")[0]
    assert eph.params["thread_ts"] == "1700000400.000400" and eph.params["user"] == "U0ALICE01"
    assert "/milvus slow <cluster>" in eph.params["text"]


def test_channel_mentions_from_logs_are_inert_everywhere(bot: BotServer, fake_slack: FakeSlack) -> None:
    bot.command(slash_command_body("slow prod-eu 30m", response_url=fake_slack.response_url()))
    summary = fake_slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.params)[0]
    fake_slack.wait_for("files.completeUploadExternal")
    value = next(e["value"] for b in posted_blocks(summary.params) if b["type"] == "actions" for e in b["elements"])
    ts = fake_slack.reply_of(summary)["ts"]
    bot.command(block_actions_body(buttons.ACTION_EVIDENCE, value, ts, response_url=fake_slack.response_url("act")))
    evidence = fake_slack.wait_for("chat.postMessage", where=lambda c: "evidence" in c.params.get("text", ""))[0]
    assert evidence.params["thread_ts"] == ts
    shown = json.dumps(posted_blocks(evidence.params))
    assert "&lt;!channel&gt;" in shown  # the slow-log sample is shown, escaped
    texts = fake_slack.texts()
    assert texts and not [t for t in texts if "<!channel>" in t]


def test_widen_button_doubles_the_window_in_the_same_thread(bot: BotServer, fake_slack: FakeSlack) -> None:
    end = int(time.time()) - 60
    value = json.dumps({"c": "prod-eu", "w": "30m", "at": end})
    bot.command(block_actions_body(buttons.ACTION_WIDEN, value, "1700000500.000500"))
    placeholder = fake_slack.wait_for("chat.postMessage")[0]
    assert placeholder.params["thread_ts"] == "1700000500.000500"
    assert "over 1h again" in placeholder.params["text"]
    update = fake_slack.wait_for("chat.update")[0]
    assert "(1h)" in json.dumps(posted_blocks(update.params))


def test_tampered_button_value_and_foreign_user_are_refused(bot: BotServer, fake_slack: FakeSlack) -> None:
    bad = json.dumps({"c": "prod-eu", "w": "30m", "at": int(time.time()), "n": "x; drop"})
    bot.command(block_actions_body(buttons.ACTION_RERUN, bad, "1700000600.000600",
                                   response_url=fake_slack.response_url("bad")))
    refused = json.dumps({"c": "prod-us", "w": "30m", "at": int(time.time())})
    bot.command(block_actions_body(buttons.ACTION_RERUN, refused, "1700000600.000600",
                                   response_url=fake_slack.response_url("refused")))
    answers = fake_slack.wait_for("response_url", 2)
    texts = " | ".join(a.params["text"] for a in answers)
    assert "not a valid collection name" in texts and "you are not on the list" in texts
    assert all(a.params["response_type"] == "ephemeral" for a in answers)
    assert fake_slack.of("chat.postMessage") == []


def test_ratelimited_post_is_retried_after_retry_after(bot: BotServer, fake_slack: FakeSlack) -> None:
    fake_slack.ratelimit_once("chat.postMessage", retry_after=1)
    bot.command(slash_command_body("slow prod-eu 30m", response_url=fake_slack.response_url()))
    fake_slack.wait_for("chat.postMessage", where=lambda c: "thread_ts" not in c.params)
    limited = fake_slack.of("chat.postMessage", status=429)
    ok = fake_slack.of("chat.postMessage")
    assert len(limited) == 1
    assert ok[0].at - limited[0].at >= 1.0  # waited for Retry-After before trying again


def test_not_in_channel_falls_back_to_response_url_and_says_so(bot: BotServer, fake_slack: FakeSlack) -> None:
    fake_slack.not_in_channel.add("C0PRODEU2")
    bot.command(slash_command_body("slow prod-eu", channel="C0PRODEU2", response_url=fake_slack.response_url("ni")))
    answers = fake_slack.wait_for("response_url", 2)
    assert answers[0].params["response_type"] == "in_channel"
    assert answers[0].params["text"].startswith("prod-eu")
    assert "I am not a member of this channel" in json.dumps(answers[0].params["blocks"])
    assert_valid_blocks(answers[0].params["blocks"])


def test_healthz(bot: BotServer) -> None:
    body = httpx.get(f"{bot.url}/healthz").json()
    assert body["ok"] is True and body["clusters"] == 2


def test_clusters_subcommand_reports_unreachable_prometheus(bot: BotServer, fake_slack: FakeSlack) -> None:
    resp = bot.command(slash_command_body("clusters", response_url=fake_slack.response_url("cl")))
    assert "checking the clusters" in resp.text
    answer = fake_slack.wait_for("response_url")[0]
    assert "prod-eu: p99 n/a · Prometheus unreachable" in answer.params["text"]
    assert "1 more cluster(s) are not available" in answer.params["text"]  # prod-us is for U0BOB0001 only
