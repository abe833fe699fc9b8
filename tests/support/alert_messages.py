"""Alert notifications in the shapes the real senders produce, for the tests.

* Alertmanager's Slack receiver, default template: only a title ("[FIRING:1] <group values> (<common>)"),
  empty text, fallback "<title> | <link>", colour danger/good (Slack shows them as hex in events).
* The same receiver with deploy/alertmanager/milvus-triage.tmpl (checked against a real Alertmanager
  in test_alerts_alertmanager_live.py).
* Grafana Alerting's default Slack message (grafana/alerting templates/default_template.go).
* The Alertmanager webhook payload, version 4.
* Slack's Events API envelope, and message_changed edits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

AM_URL = "http://alertmanager.example:9093"
GRAFANA_URL = "http://grafana.example:3000"


def _esc(text: str) -> str:
    """What Slack does to message text it stores: & < > become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def subject(status: str, labels: list[dict[str, str]], group_by: list[str], firing: int | None = None,
            resolved: int = 0) -> str:
    """The default `__subject` (Alertmanager's; Grafana's adds ", RESOLVED:n" to a firing group)."""
    firing = len(labels) if firing is None else firing
    group = {k: labels[0][k] for k in group_by if k in labels[0]}
    common = {k: v for k, v in labels[0].items() if all(lab.get(k) == v for lab in labels)}
    rest = {k: v for k, v in common.items() if k not in group}
    head = f"[FIRING:{firing}{f', RESOLVED:{resolved}' if resolved else ''}]" if status == "firing" else "[RESOLVED]"
    values = " ".join(group[k] for k in sorted(group))
    tail = f"({' '.join(rest[k] for k in sorted(rest))})" if len(common) > len(group) else ""
    return f"{head} {values} {tail}".rstrip()


def message_event(attachment: dict[str, Any], channel: str, ts: str, username: str = "Alertmanager",
                  bot_id: str = "B0ALERTMGR") -> dict[str, Any]:
    return {"type": "message", "subtype": "bot_message", "text": "", "ts": ts, "username": username,
            "bot_id": bot_id, "attachments": [dict(attachment, id=1)], "channel": channel, "event_ts": ts,
            "channel_type": "channel"}


def am_default_event(status: str, labels: list[dict[str, str]], channel: str, ts: str,
                     group_by: tuple[str, ...] = ("alertname", "cluster")) -> dict[str, Any]:
    title = subject(status, labels, list(group_by))
    link = f"{AM_URL}/#/alerts?receiver=slack-milvus"
    return message_event({"title": _esc(title), "title_link": link, "text": "",
                          "fallback": _esc(f"{title} | {link}"), "callback_id": "", "footer": "",
                          "color": "a30200" if status == "firing" else "2eb886",
                          "mrkdwn_in": ["fallback", "pretext", "text"]}, channel, ts)


def _go_quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def am_template_text(alerts: list[dict[str, Any]]) -> str:
    """deploy/alertmanager/milvus-triage.tmpl's `milvus.slack.text` for these alerts."""
    out = []
    for a in alerts:
        lab, ann = a["labels"], a.get("annotations", {})
        line = f"*{lab['alertname']}* {a['status']} on `{lab.get('cluster', '')}`"
        if ann.get("summary"):
            line += f": {ann['summary']}"
        out.append(line)
        out.append("labels:" + "".join(f" {k}={_go_quote(lab[k])}" for k in sorted(lab)))
        alert_line = f"alert: status={a['status']} startsAt={a['startsAt']:%Y-%m-%dT%H:%M:%SZ}"
        if a["status"] == "resolved":
            alert_line += f" endsAt={a['endsAt']:%Y-%m-%dT%H:%M:%SZ}"
        out.append(alert_line + f" fingerprint={a['fingerprint']}")
    return "\n".join(out) + "\n"


def am_template_event(status: str, alerts: list[dict[str, Any]], channel: str, ts: str,
                      group_by: tuple[str, ...] = ("alertname", "cluster")) -> dict[str, Any]:
    firing = sum(1 for a in alerts if a["status"] == "firing")
    title = subject(status, [a["labels"] for a in alerts], list(group_by), firing)
    link = f"{AM_URL}/#/alerts?receiver=slack-milvus"
    return message_event({"title": _esc(title), "title_link": link, "text": _esc(am_template_text(alerts)),
                          "fallback": _esc(f"{title} | {link}"), "callback_id": "", "footer": "",
                          "color": "a30200" if status == "firing" else "2eb886",
                          "mrkdwn_in": ["fallback", "pretext", "text"]}, channel, ts)


def grafana_event(status: str, alerts: list[dict[str, Any]], channel: str, ts: str,
                  group_by: tuple[str, ...] = ("alertname", "grafana_folder")) -> dict[str, Any]:
    """Grafana's default Slack message: default.title and default.message, footer 'Grafana vX'."""
    firing = [a for a in alerts if a["status"] == "firing"]
    resolved = [a for a in alerts if a["status"] == "resolved"]
    title = subject(status, [a["labels"] for a in alerts], list(group_by), len(firing), len(resolved))

    def alert_list(items: list[dict[str, Any]]) -> str:
        s = ""
        for a in items:
            s += "\nValue: A=1990, C=1\nLabels:\n"
            s += "".join(f" - {k} = {v}\n" for k, v in sorted(a["labels"].items()))
            s += "Annotations:\n" + "".join(f" - {k} = {v}\n" for k, v in sorted(a.get("annotations", {}).items()))
            s += f"Source: <{GRAFANA_URL}/alerting/grafana/fe1x/view?orgId=1>\n"
            s += (f"Silence: <{GRAFANA_URL}/alerting/silence/new?alertmanager=grafana&amp;"
                  f"matcher=alertname%3D{a['labels']['alertname']}&amp;orgId=1>\n")
        return s

    text = ""
    if firing:
        text += "**Firing**\n" + alert_list(firing)
        if resolved:
            text += "\n\n"
    if resolved:
        text += "**Resolved**\n" + alert_list(resolved)
    return message_event({"title": _esc(title), "title_link": f"{GRAFANA_URL}/alerting/list", "text": text,
                          "fallback": _esc(title), "footer": "Grafana v10.4.1",
                          "footer_icon": "https://grafana.com/static/assets/img/fav32.png",
                          "color": "D63232" if status == "firing" else "36a64f", "ts": int(float(ts))},
                         channel, ts, username="grafana", bot_id="B0GRAFANA")


def edit_event(original: dict[str, Any], new_message: dict[str, Any], edited_ts: str) -> dict[str, Any]:
    """Slack's message_changed event: the new version in `message`, the old in `previous_message`."""
    message = {k: v for k, v in new_message.items() if k not in ("channel", "event_ts", "channel_type")}
    message["ts"] = original["ts"]
    message["edited"] = {"user": original.get("bot_id", "B0"), "ts": edited_ts}
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": original["channel"],
            "ts": edited_ts, "event_ts": edited_ts, "channel_type": "channel", "message": message,
            "previous_message": {k: v for k, v in original.items() if k not in ("channel", "event_ts",
                                                                                  "channel_type")}}


def envelope(event: dict[str, Any], event_id: str) -> str:
    """The Events API body Slack POSTs (event_callback)."""
    return json.dumps({
        "token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": "T0000FAKE", "api_app_id": "A0000APP", "event": event,
        "type": "event_callback", "event_id": event_id, "event_time": int(float(event.get("event_ts", "0"))),
        "authorizations": [{"enterprise_id": None, "team_id": "T0000FAKE", "user_id": "UBOT0001", "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False, "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
    })


def webhook_alert(status: str, labels: dict[str, str], starts: datetime, ends: datetime | None = None,
                  fingerprint: str = "f87cd2a0672aa2f2", summary: str = "Search p99 1990 ms") -> dict[str, Any]:
    return {
        "status": status, "labels": labels, "annotations": {"summary": summary},
        "startsAt": starts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{starts.microsecond:06d}341Z",
        "endsAt": ends.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=histogram_quantile&g0.tab=1",
        "fingerprint": fingerprint,
    }


def webhook_payload(status: str, alerts: list[dict[str, Any]],
                    group_by: tuple[str, ...] = ("alertname", "cluster")) -> dict[str, Any]:
    """Alertmanager's webhook body, version 4, exactly as notify/webhook marshals it."""
    labels = [a["labels"] for a in alerts]
    group = {k: labels[0][k] for k in group_by if k in labels[0]}
    common = {k: v for k, v in labels[0].items() if all(lab.get(k) == v for lab in labels)}
    anns = [a["annotations"] for a in alerts]
    common_ann = {k: v for k, v in anns[0].items() if all(x.get(k) == v for x in anns)}
    matchers = ", ".join(f'{k}="{v}"' for k, v in sorted(group.items()))
    return {
        "receiver": "milvus-triage", "status": status, "alerts": alerts, "groupLabels": group,
        "commonLabels": common, "commonAnnotations": common_ann, "externalURL": AM_URL, "version": "4",
        "groupKey": '{}/{alertname=~"Milvus.*"}:{' + matchers + "}", "truncatedAlerts": 0,
    }
