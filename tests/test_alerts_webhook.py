"""POST /alertmanager: v4 payloads, bearer token, one thread per group, and both routes for one firing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import parse_config
from tests.fixtures.slack import FakeSlack
from tests.support.alert_bot import AlertBot, make_alert_bot
from tests.support.alert_messages import am_default_event, am_template_event, webhook_alert, webhook_payload

TOKEN_ENV = "TEST_AM_WEBHOOK_TOKEN"
TOKEN = "s3cret-token-for-tests"
CH = "C0ALERTS"
SLOW_EU = {"alertname": "MilvusSearchLatencyHigh", "cluster": "prod-eu", "severity": "critical"}
SLOW_US = dict(SLOW_EU, cluster="prod-us")
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

CONFIG = parse_config({
    "clusters": [{"name": "prod-eu", "alert_channel": "C0ALERTEU"},
                 {"name": "prod-us", "alert_channel": "C0ALERTUS", "cooldown_s": 0},
                 {"name": "prod-ap"}],
    "alerts": {"channels": [CH], "webhook_token_env": TOKEN_ENV, "resolve_wait_s": 5},
})


@pytest.fixture
def bot(fake_slack: FakeSlack, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertBot]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    b = make_alert_bot(fake_slack, db_url, CONFIG)
    yield b
    b.close()


def _firing(labels: dict[str, str] = SLOW_EU, starts: datetime = T0, fp: str = "f87cd2a0672aa2f2") -> dict:
    return webhook_alert("firing", labels, starts, fingerprint=fp)


def test_bearer_token_and_payload_checks(bot: AlertBot) -> None:
    payload = webhook_payload("firing", [_firing()])
    r = bot.webhook(payload)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert bot.webhook(payload, token="wrong").status_code == 401
    assert TOKEN not in bot.webhook(payload, token="wrong").text
    bad = bot.webhook("{not json", token=TOKEN)
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    v3 = bot.webhook(dict(payload, version="3"), token=TOKEN)
    assert v3.status_code == 400 and "unsupported webhook payload version '3'" in v3.json()["error"]
    no_alerts = {k: v for k, v in payload.items() if k != "alerts"}
    r422 = bot.webhook(no_alerts, token=TOKEN)
    assert r422.status_code == 422 and "alerts" in r422.json()["error"]
    bad_time = bot.webhook(dict(payload, alerts=[dict(_firing(), startsAt="yesterday")]), token=TOKEN)
    assert bad_time.status_code == 422 and "startsAt" in bad_time.json()["error"]
    assert bot.fake.of("chat.postMessage") == []  # nothing was accepted
    ok = bot.webhook(payload, token=TOKEN)
    assert ok.status_code == 200 and ok.json() == {"status": "ok", "alerts": 1, "outcomes": ["accepted"]}


def test_one_thread_per_group_and_later_notifications_in_it(bot: AlertBot) -> None:
    first = webhook_payload("firing", [_firing(SLOW_US)])
    assert bot.webhook(first, token=TOKEN).json()["outcomes"] == ["accepted"]
    bot.drain()
    [root] = [c for c in bot.posts("C0ALERTUS") if not c.params.get("thread_ts")]
    assert "*MilvusSearchLatencyHigh* firing on *prod-us*" in root.params["text"]
    thread = root.response["ts"]
    assert len(bot.diagnoses("C0ALERTUS", thread)) == 1

    # repeat notification, and the group growing: same firing, same thread, nothing new
    assert bot.webhook(first, token=TOKEN).json()["outcomes"] == ["duplicate"]
    grown = webhook_payload("firing", [_firing(SLOW_US), _firing(dict(SLOW_US, instance="p2"),
                                                                 T0 + timedelta(minutes=1), "0b")])
    assert bot.webhook(grown, token=TOKEN).json()["outcomes"] == ["duplicate"]
    bot.drain()
    assert len(bot.posts("C0ALERTUS")) == len(bot.posts("C0ALERTUS", thread)) + 1

    ends = T0 + timedelta(minutes=23)
    done = webhook_payload("resolved", [webhook_alert("resolved", SLOW_US, T0, ends)])
    assert bot.webhook(done, token=TOKEN).json()["outcomes"] == ["resolving"]
    assert bot.webhook(done, token=TOKEN).json()["outcomes"] == ["not_open"]
    bot.drain()
    assert bot.resolved_lines(thread) == [
        ":white_check_mark: resolved after 23 min; last finding: OR chain on my_repos"]

    # the group fires again later: a new diagnosis, in the same thread, no new root
    again = webhook_payload("firing", [_firing(SLOW_US, T0 + timedelta(minutes=40))])
    assert bot.webhook(again, token=TOKEN).json()["outcomes"] == ["accepted"]
    bot.drain()
    assert len(bot.diagnoses("C0ALERTUS", thread)) == 2
    assert [c for c in bot.posts("C0ALERTUS") if not c.params.get("thread_ts")] == [root]


def test_webhook_then_channel_message_of_the_same_firing(bot: AlertBot) -> None:
    assert bot.webhook(webhook_payload("firing", [_firing()]), token=TOKEN).json()["outcomes"] == ["accepted"]
    msg_ts = f"{T0.timestamp() + 3:.6f}"
    ours = am_template_event("firing", [{"status": "firing", "labels": SLOW_EU, "annotations": {},
                                          "startsAt": T0, "fingerprint": "f87cd2a0672aa2f2"}], CH, msg_ts)
    bot.event(ours, "Ev601")
    bot.event(am_default_event("firing", [SLOW_EU], CH, msg_ts), "Ev602")  # and the default template
    bot.drain()
    assert len(bot.diagnoses()) == 1
    assert bot.posts(CH) == []  # the channel copies stay unanswered: the webhook thread has it


def test_channel_message_then_webhook_of_the_same_firing(bot: AlertBot) -> None:
    msg_ts = f"{T0.timestamp() + 3:.6f}"
    bot.event(am_default_event("firing", [SLOW_EU], CH, msg_ts), "Ev701")
    assert bot.webhook(webhook_payload("firing", [_firing()]), token=TOKEN).json()["outcomes"] == ["duplicate"]
    bot.drain()
    assert len(bot.diagnoses(CH, msg_ts)) == 1 and bot.posts("C0ALERTEU") == []
    # the webhook's resolve lands in the alert message's thread
    done = webhook_payload("resolved", [webhook_alert("resolved", SLOW_EU, T0, T0 + timedelta(minutes=12))])
    assert bot.webhook(done, token=TOKEN).json()["outcomes"] == ["resolving"]
    bot.drain()
    assert bot.resolved_lines(msg_ts) == [
        ":white_check_mark: resolved after 12 min; last finding: OR chain on my_repos"]


def test_cluster_without_alert_channel_and_unknown_alerts(bot: AlertBot) -> None:
    ap = dict(SLOW_EU, cluster="prod-ap")  # prod-ap has no alert_channel and there is no webhook_channel
    assert bot.webhook(webhook_payload("firing", [_firing(ap)]), token=TOKEN).json()["outcomes"] == ["accepted"]
    other = webhook_payload("firing", [_firing({"alertname": "KubePodCrashLooping", "cluster": "prod-eu"})])
    assert bot.webhook(other, token=TOKEN).json() == {"status": "ok", "alerts": 1, "outcomes": []}
    bot.drain()
    assert bot.fake.of("chat.postMessage") == []
    assert bot.store.open_incident_for("prod-ap|MilvusSearchLatencyHigh prod-ap").mode == "none"


def test_no_token_configured_means_open_endpoint(fake_slack: FakeSlack, db_url: str) -> None:
    cfg = parse_config(json.loads(CONFIG.model_dump_json(exclude={"source_path"})) | {
        "alerts": {"channels": [CH]}})
    b = make_alert_bot(fake_slack, db_url, cfg)
    try:
        assert b.webhook(webhook_payload("firing", [_firing(SLOW_US)])).status_code == 200
    finally:
        b.close()


def test_without_a_store_alertmanager_is_told_to_retry(bot: AlertBot) -> None:
    store, bot.ctx.store = bot.ctx.store, None
    try:
        r = bot.webhook(webhook_payload("firing", [_firing(SLOW_US)]), token=TOKEN)
        assert r.status_code == 503 and "no history store" in r.json()["error"]
    finally:
        bot.ctx.store = store
