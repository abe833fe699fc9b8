"""Alert-channel replies through a real Bolt app: one diagnosis per firing, one resolved line, cooldowns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.config import parse_config
from tests.fixtures.slack import BOT_USER_ID, FakeSlack
from tests.support.alert_bot import AlertBot, make_alert_bot
from tests.support.alert_messages import am_default_event, am_template_event, edit_event, grafana_event

CH = "C0ALERTS"
T = "1795514410.000100"  # the alert message
SLOW_EU = {"alertname": "MilvusSearchLatencyHigh", "cluster": "prod-eu", "severity": "critical"}
QUEUE_EU = {"alertname": "MilvusQueryNodeQueueLatencyHigh", "cluster": "prod-eu", "severity": "warning"}
SLOW_US = dict(SLOW_EU, cluster="prod-us")


def later(ts: str, minutes: float) -> str:
    return f"{float(ts) + minutes * 60:.6f}"


CONFIG = parse_config({
    "clusters": [{"name": "prod-eu", "alert_channel": "C0ALERTEU"},
                 {"name": "prod-us", "alert_channel": "C0ALERTUS", "cooldown_s": 0}],
    "alerts": {"channels": [CH], "cooldown_s": 900, "resolve_wait_s": 5},
})


@pytest.fixture
def bot(fake_slack: FakeSlack, db_url: str) -> Iterator[AlertBot]:
    b = make_alert_bot(fake_slack, db_url, CONFIG)
    yield b
    b.close()


def test_one_diagnosis_per_firing_then_one_resolved_line(bot: AlertBot) -> None:
    firing = am_default_event("firing", [SLOW_EU], CH, T)
    assert bot.event(firing, "Ev001") == 200
    bot.drain()
    [diag] = bot.diagnoses(CH, T)  # in the alert's thread
    assert "prod-eu" in diag.params["text"]

    # Slack retries, the same alert posted again (repeat notification), an edit that stays firing
    assert bot.event(firing, "Ev001", retry=1) == 200
    assert bot.event(firing, "Ev001", retry=2) == 200
    bot.event(am_default_event("firing", [SLOW_EU], CH, later(T, 5)), "Ev002")
    bot.event(edit_event(firing, am_default_event("firing", [SLOW_EU, dict(SLOW_EU, instance="b")], CH, T),
                         later(T, 6)), "Ev003")
    bot.drain()
    assert len(bot.diagnoses()) == 1
    assert bot.posts(CH, later(T, 5)) == []

    resolved = am_default_event("resolved", [SLOW_EU], CH, later(T, 23))
    bot.event(resolved, "Ev004")
    bot.event(resolved, "Ev004", retry=1)
    bot.event(resolved, "Ev005")  # the resolved notice posted twice
    bot.drain()
    assert bot.resolved_lines(T) == [
        ":white_check_mark: resolved after 23 min; last finding: OR chain on my_repos"]
    assert len(bot.resolved_lines()) == 1
    [incident] = [bot.store.incident_by_thread(CH, T)]
    assert incident is not None and incident.status == "resolved" and incident.mode == "full"
    assert bot.store.count_diagnoses() == 1
    d = bot.store.get_diagnosis(incident.diagnosis_id)
    assert (d.trigger, d.channel, d.thread_ts, d.top_finding) == ("alert", CH, T, "OR chain on my_repos")
    # The diagnosed window starts default_window (30m) before the alert and ends when it was diagnosed.
    assert (d.window_end - d.window_start).total_seconds() >= 1800


def test_a_new_firing_after_resolution_is_diagnosed_again(bot: AlertBot) -> None:
    us1 = am_default_event("firing", [SLOW_US], CH, T)
    bot.event(us1, "Ev101")
    bot.drain()
    bot.event(am_default_event("resolved", [SLOW_US], CH, later(T, 10)), "Ev102")
    bot.drain()
    bot.event(am_default_event("firing", [SLOW_US], CH, later(T, 30)), "Ev103")  # prod-us: no cooldown
    bot.drain()
    assert len(bot.diagnoses(CH, T)) == 1 and len(bot.diagnoses(CH, later(T, 30))) == 1
    assert bot.resolved_lines(T) == [":white_check_mark: resolved after 10 min; last finding: OR chain on my_repos"]


def test_cooldown_gives_a_still_line_instead_of_a_second_diagnosis(bot: AlertBot) -> None:
    bot.event(am_default_event("firing", [SLOW_EU], CH, T), "Ev201")
    bot.drain()
    second = later(T, 2)
    bot.event(am_default_event("firing", [QUEUE_EU], CH, second), "Ev202")  # same cluster, within 900 s
    bot.drain()
    assert len(bot.diagnoses()) == 1
    [still] = bot.posts(CH, second)
    first, quieted = bot.store.incident_by_thread(CH, T), bot.store.incident_by_thread(CH, second)
    # the still line links to the first diagnosis' reply (its chat.getPermalink, kept in the store)
    link = bot.store.get_diagnosis(first.diagnosis_id).permalink
    assert link and link.startswith(f"https://fake-workspace.slack.com/archives/{CH}/p")
    assert still.params["text"].startswith(f"still: OR chain on my_repos (<{link}|diagnosed ")
    assert "for MilvusSearchLatencyHigh" in still.params["text"] and "\n" not in still.params["text"]
    assert quieted.mode == "still" and quieted.diagnosis_id == first.diagnosis_id is not None  # for the handoff
    # Its resolve names the finding it inherited.
    bot.event(am_default_event("resolved", [QUEUE_EU], CH, later(T, 9)), "Ev203")
    bot.drain()
    assert bot.resolved_lines(second) == [
        ":white_check_mark: resolved after 7 min; last finding: OR chain on my_repos"]


def test_grafana_alert_and_edit_to_resolved(bot: AlertBot) -> None:
    labels = {"alertname": "MilvusSlowQueries", "cluster": "prod-eu", "grafana_folder": "Milvus"}
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": "12 slow searches"}}
    firing = grafana_event("firing", [alert], CH, T)
    bot.event(firing, "Ev301")
    bot.drain()
    assert len(bot.diagnoses(CH, T)) == 1
    gone = grafana_event("resolved", [dict(alert, status="resolved")], CH, T)
    bot.event(edit_event(firing, gone, later(T, 45)), "Ev302")
    bot.drain()
    assert bot.resolved_lines(T) == [":white_check_mark: resolved after 45 min; last finding: OR chain on my_repos"]


def test_unrecognised_and_own_messages_are_left_alone(bot: AlertBot) -> None:
    cpu = am_default_event("firing", [{"alertname": "NodeHighCPU", "cluster": "prod-eu"}], CH, T)
    bot.event(cpu, "Ev401")
    own = dict(am_default_event("firing", [SLOW_EU], CH, later(T, 1)), user=BOT_USER_ID)
    bot.event(own, "Ev402")
    other_channel = am_default_event("firing", [SLOW_EU], "C0RANDOM", later(T, 2))
    bot.event(other_channel, "Ev403")
    chatter = {"type": "message", "user": "U0ALICE01", "text": "is prod-eu slow?", "ts": later(T, 3), "channel": CH}
    bot.event(chatter, "Ev404")
    bot.drain()
    assert bot.fake.of("chat.postMessage") == []
    assert bot.store.open_incident_for("prod-eu|MilvusSearchLatencyHigh prod-eu") is None


def test_failed_diagnosis_says_so_once_and_frees_the_cooldown(fake_slack: FakeSlack, db_url: str) -> None:
    def broken(request, config):  # type: ignore[no-untyped-def]
        raise RuntimeError("Prometheus <http://evil|click> unreachable")

    b = make_alert_bot(fake_slack, db_url, CONFIG, diagnose=broken)
    try:
        b.event(am_template_event("firing", [{"status": "firing", "labels": SLOW_EU, "annotations": {},
                                               "startsAt": __import__("datetime").datetime(2026, 11, 24, 10, 0),
                                               "fingerprint": "ab"}], CH, T), "Ev501")
        b.drain()
        [msg] = b.posts(CH, T)
        assert msg.params["text"] == (":warning: could not diagnose this alert: RuntimeError: "
                                      "Prometheus &lt;http://evil|click&gt; unreachable")
        assert b.store.claim_cooldown("prod-eu", 0, 900) is True  # released
    finally:
        b.close()


def test_a_channel_the_bot_cannot_post_to_keeps_history_and_frees_the_cooldown(bot: AlertBot) -> None:
    bot.fake.not_in_channel.add(CH)
    bot.event(am_default_event("firing", [SLOW_EU], CH, T), "Ev601")
    bot.drain()
    assert [c.response["error"] for c in bot.fake.of("chat.postMessage")] == ["not_in_channel"]
    assert bot.store.count_diagnoses("prod-eu") == 1  # the history still has it for the handoff
    assert bot.store.claim_cooldown("prod-eu", 0, 900) is True  # the next firing may try again
