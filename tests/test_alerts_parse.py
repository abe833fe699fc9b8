"""Reading alert notifications: Alertmanager and Grafana Slack messages, the webhook, and the keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts.alertmanager import WebhookPayload, to_notification
from bot.alerts.recognise import alert_channels, recognise
from bot.alerts.slack_message import parse_alert_message, parse_time, slack_unescape
from bot.config import ConfigError, parse_config
from tests.support.alert_messages import (
    am_default_event,
    am_template_event,
    edit_event,
    grafana_event,
    webhook_alert,
    webhook_payload,
)

T0 = datetime(2026, 11, 24, 10, 0, 7, 341376, tzinfo=UTC)
TS = "1795514410.000100"  # 2026-11-24T10:00:10Z, the Slack message posted 3 s after startsAt
CH = "C0ALERTS"
SLOW_EU = {"alertname": "MilvusSearchLatencyHigh", "cluster": "prod-eu", "severity": "critical"}


def config(**alerts: object):  # type: ignore[no-untyped-def]
    return parse_config({
        "clusters": [{"name": "prod-eu", "alert_channel": "C0ALERTEU"}, {"name": "prod-us"}],
        "alerts": {"channels": [CH], "cluster_label_map": {"eu-west-1": "prod-eu"}, **alerts},
    })


def _alert(status: str = "firing", labels: dict[str, str] | None = None, starts: datetime = T0,
           ends: datetime | None = None, fp: str = "f87cd2a0672aa2f2") -> dict[str, object]:
    return {"status": status, "labels": labels or dict(SLOW_EU), "annotations": {"summary": "Search p99 1990 ms"},
            "startsAt": starts, "endsAt": ends, "fingerprint": fp}


def test_alertmanager_default_template_firing_and_resolved() -> None:
    ev = am_default_event("firing", [SLOW_EU], CH, TS)
    n = parse_alert_message(ev)
    assert n is not None
    assert (n.origin, n.status, n.group_values, n.common_values) == (
        "alertmanager-slack", "firing", "MilvusSearchLatencyHigh prod-eu", ["critical"])
    assert n.alerts == [] and (n.channel, n.message_ts) == (CH, TS)
    [e] = recognise(n, config())
    assert (e.status, e.cluster, e.alertname, e.starts_at) == ("firing", "prod-eu", "MilvusSearchLatencyHigh", None)
    assert e.ident == "prod-eu|MilvusSearchLatencyHigh prod-eu"
    assert e.firing_key == f"fire|{e.ident}|msg:{CH}:{TS}"  # no startsAt in this template
    assert e.observed_at == datetime.fromtimestamp(float(TS), UTC)

    resolved = parse_alert_message(am_default_event("resolved", [SLOW_EU], CH, "1795515790.000200"))
    assert resolved is not None and resolved.status == "resolved"
    [r] = recognise(resolved, config())
    assert r.status == "resolved" and r.ident == e.ident


def test_our_template_carries_labels_and_start_and_matches_the_webhook_key() -> None:
    alerts = [_alert(), _alert(labels=dict(SLOW_EU, instance="proxy-2:9091"), starts=T0 + timedelta(minutes=2),
                               fp="0a1b2c3d4e5f6a7b")]
    n = parse_alert_message(am_template_event("firing", alerts, CH, TS))
    assert n is not None and n.status == "firing" and len(n.alerts) == 2
    assert n.alerts[1].labels["instance"] == "proxy-2:9091"
    assert n.alerts[0].starts_at == T0.replace(microsecond=0) and n.alerts[0].fingerprint == "f87cd2a0672aa2f2"
    [from_slack] = recognise(n, config())

    payload = WebhookPayload.model_validate(webhook_payload("firing", [
        webhook_alert("firing", SLOW_EU, T0), webhook_alert("firing", dict(SLOW_EU, instance="proxy-2:9091"),
                                                            T0 + timedelta(minutes=2), fingerprint="0a1b2c3d4e5f6a7b")]))
    [from_hook] = recognise(to_notification(payload), config())
    # The same firing seen through both routes: one key, so one diagnosis.
    assert from_slack.firing_key == from_hook.firing_key == (
        "fire|prod-eu|MilvusSearchLatencyHigh prod-eu|2026-11-24T10:00:07Z")
    assert from_slack.ident == from_hook.ident
    assert from_hook.group_key == '{}/{alertname=~"Milvus.*"}:{alertname="MilvusSearchLatencyHigh", cluster="prod-eu"}'
    assert from_hook.summary == "Search p99 1990 ms" and from_hook.fingerprint == "f87cd2a0672aa2f2"


def test_our_template_resolved_has_end_time() -> None:
    ends = T0 + timedelta(minutes=23)
    n = parse_alert_message(am_template_event("resolved", [_alert("resolved", ends=ends)], CH, TS))
    assert n is not None
    [e] = recognise(n, config())
    assert e.status == "resolved" and e.ends_at == ends.replace(microsecond=0)
    assert e.ends_at - e.starts_at == timedelta(minutes=23)


def test_grafana_default_message_firing_resolved_and_mixed() -> None:
    labels = {"alertname": "MilvusSearchLatencyHigh", "cluster": "prod-eu", "grafana_folder": "Milvus"}
    n = parse_alert_message(grafana_event("firing", [_alert(labels=labels)], CH, TS))
    assert n is not None and n.origin == "grafana-slack" and n.status == "firing"
    assert n.group_values == "MilvusSearchLatencyHigh Milvus" and n.common_values == ["prod-eu"]
    assert n.alerts[0].labels == labels and n.alerts[0].annotations == {"summary": "Search p99 1990 ms"}
    assert n.alerts[0].generator_url == "http://grafana.example:3000/alerting/grafana/fe1x/view?orgId=1"
    [e] = recognise(n, config())
    assert (e.cluster, e.alertname, e.origin) == ("prod-eu", "MilvusSearchLatencyHigh", "grafana-slack")
    assert e.firing_key.endswith(f"|msg:{CH}:{TS}")

    other = dict(labels, cluster="prod-us")
    mixed = parse_alert_message(grafana_event("firing", [_alert(labels=labels),
                                                         _alert("resolved", labels=other)], CH, TS))
    assert mixed is not None and mixed.title.startswith("[FIRING:1, RESOLVED:1]")
    events = {x.cluster: x.status for x in recognise(mixed, config())}
    assert events == {"prod-eu": "firing", "prod-us": "resolved"}

    gone = parse_alert_message(grafana_event("resolved", [_alert("resolved", labels=labels)], CH, "1795515790.1"))
    assert gone is not None and [x.status for x in recognise(gone, config())] == ["resolved"]


def test_edit_to_resolved_is_read_from_the_new_message() -> None:
    original = am_default_event("firing", [SLOW_EU], CH, TS)
    resolved_version = am_default_event("resolved", [SLOW_EU], CH, TS)
    n = parse_alert_message(edit_event(original, resolved_version, edited_ts="1795515790.000100"))
    assert n is not None and n.edited and n.status == "resolved"
    assert n.message_ts == TS and n.observed_ts == "1795515790.000100"
    [e] = recognise(n, config())
    assert e.observed_at - datetime.fromtimestamp(float(TS), UTC) == timedelta(minutes=23)


@pytest.mark.parametrize("labels", [
    {"alertname": "NodeHighCPU", "cluster": "prod-eu"},  # not a Milvus alert
    {"alertname": "MilvusSearchLatencyHigh", "cluster": "someone-elses"},  # no such cluster
    {"alertname": "MilvusSearchLatencyHigh"},  # no cluster label
])
def test_unrecognised_alerts_are_left_alone(labels: dict[str, str]) -> None:
    for ev in (am_default_event("firing", [labels], CH, TS), am_template_event("firing", [_alert(labels=labels)], CH, TS),
               grafana_event("firing", [_alert(labels=labels)], CH, TS)):
        n = parse_alert_message(ev)
        assert n is not None  # an alert, just not ours
        assert recognise(n, config()) == []


def test_not_alert_messages() -> None:
    user_msg = {"type": "message", "text": "[FIRING:1] is what the title says", "user": "U1", "ts": TS, "channel": CH}
    assert parse_alert_message(user_msg) is None
    other_bot = {"type": "message", "subtype": "bot_message", "ts": TS, "channel": CH,
                 "attachments": [{"id": 1, "title": "Deploy finished", "text": "build 42 ok", "fallback": "x"}]}
    assert parse_alert_message(other_bot) is None


def test_cluster_label_map_and_label_patterns() -> None:
    mapped = dict(SLOW_EU, cluster="eu-west-1")
    [e] = recognise(parse_alert_message(am_template_event("firing", [_alert(labels=mapped)], CH, TS)), config())
    assert e.cluster == "prod-eu"
    strict = config(label_patterns={"severity": "^critical$"})
    warn = dict(SLOW_EU, severity="warning")
    assert recognise(parse_alert_message(am_template_event("firing", [_alert(labels=warn)], CH, TS)), strict) == []
    assert recognise(parse_alert_message(am_default_event("firing", [warn], CH, TS)), strict) == []
    assert len(recognise(parse_alert_message(am_default_event("firing", [SLOW_EU], CH, TS)), strict)) == 1


def test_collection_label_is_kept_only_when_it_is_a_collection_name() -> None:
    ok = dict(SLOW_EU, collection_name="my_repos")
    [e] = recognise(parse_alert_message(am_template_event("firing", [_alert(labels=ok)], CH, TS)), config())
    assert e.collection == "my_repos"
    bad = dict(SLOW_EU, collection_name='x" || 1==1')
    [e2] = recognise(parse_alert_message(am_template_event("firing", [_alert(labels=bad)], CH, TS)), config())
    assert e2.collection is None


def test_slack_escaping_and_go_quoting_are_undone() -> None:
    assert slack_unescape("a &lt;b&gt; &amp; <http://x.example/?a=1&amp;b=2|link>") == "a <b> & http://x.example/?a=1&b=2"
    odd = dict(SLOW_EU, instance='proxy "one" <1>')
    n = parse_alert_message(am_template_event("firing", [_alert(labels=odd)], CH, TS))
    assert n is not None and n.alerts[0].labels["instance"] == 'proxy "one" <1>'


def test_webhook_groups_split_by_cluster_and_resolve_only_when_all_resolved() -> None:
    eu, us = SLOW_EU, dict(SLOW_EU, cluster="prod-us")
    payload = WebhookPayload.model_validate(webhook_payload("firing", [
        webhook_alert("firing", eu, T0), webhook_alert("resolved", us, T0 - timedelta(hours=1), T0)],
        group_by=("alertname",)))
    events = {e.cluster: e for e in recognise(to_notification(payload), config())}
    assert events["prod-eu"].status == "firing" and events["prod-us"].status == "resolved"
    assert events["prod-us"].ends_at == T0
    assert events["prod-eu"].ident == "prod-eu|MilvusSearchLatencyHigh"


def test_times_and_config_checks() -> None:
    assert parse_time("2026-11-24T10:00:07.341376123Z") == datetime(2026, 11, 24, 10, 0, 7, 341376, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None and parse_time("soon") is None
    assert alert_channels(config()) == {CH, "C0ALERTEU"}
    with pytest.raises(ConfigError, match="not a valid regex"):
        config(alertname_patterns=["(unclosed"])
    with pytest.raises(ConfigError, match="max_window"):
        config(max_window="forever")
