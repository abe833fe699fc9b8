"""Read alert notifications the way Alertmanager's Slack receiver and Grafana Alerting post them.

Both put everything in one legacy attachment (title, title_link, text, fields, color, fallback);
the message itself has no text. Titles follow the shared default subject:

    [FIRING:2] <group label values, sorted by label name> (<other common label values>)
    [FIRING:1, RESOLVED:1] ...   (Grafana)
    [RESOLVED] ...

Bodies differ:
* Alertmanager's default `slack.default.text` is empty: only the title's label values are known.
* Grafana's default message lists every alert: "Labels:" and "Annotations:" with " - name = value".
* deploy/alertmanager/milvus-triage.tmpl (ours) adds per alert a `labels:` line (name="value")
  and an `alert:` line with status, startsAt, endsAt and fingerprint.

Slack hands message text back escaped (&amp; &lt; &gt;) with links as <url|label>; both are undone.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.alerts.model import AlertNotification, ParsedAlert, Status

_SUBJECT = re.compile(
    r"^\s*\[(?P<status>FIRING|RESOLVED)(?::(?P<firing>\d+))?(?:,\s*RESOLVED:(?P<resolved>\d+))?\]\s?(?P<rest>.*)$",
    re.S,
)
_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]+)(?:\|([^>]*))?>")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_OUR_LABELS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)=("(?:[^"\\]|\\.)*")')
_OUR_ALERT = re.compile(r"(\w+)=(\S+)")
_GRAFANA_PAIR = re.compile(r"^\s*-\s+(\S+?)\s+=\s?(.*)$")
_GO_ZERO_TIME = "0001-01-01"


def slack_unescape(text: str) -> str:
    """Undo Slack's message formatting: <url|label> -> url, then the three entities."""
    text = _LINK.sub(lambda m: m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def message_of(event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The message an event carries: itself, or for an edit (`message_changed`) the new version."""
    if event.get("subtype") == "message_changed" and isinstance(event.get("message"), dict):
        return event["message"], True
    return event, False


def parse_alert_message(event: dict[str, Any]) -> AlertNotification | None:
    """An alert notification from a Slack message event, or None when the message is not one."""
    msg, edited = message_of(event)
    for att in msg.get("attachments") or []:
        if not isinstance(att, dict):
            continue
        parsed = _parse_attachment(att)
        if parsed is not None:
            parsed.channel = event.get("channel") or msg.get("channel")
            parsed.message_ts = msg.get("ts") or event.get("ts")
            edit = msg.get("edited") if isinstance(msg.get("edited"), dict) else {}
            parsed.observed_ts = (edit.get("ts") or event.get("event_ts") or event.get("ts")) if edited \
                else parsed.message_ts
            parsed.edited = edited
            return parsed
    return None


def _parse_attachment(att: dict[str, Any]) -> AlertNotification | None:
    title = slack_unescape(str(att.get("title") or "")).strip()
    if not title:
        # Alertmanager's fallback is "<title> | <link>": use it when a custom template drops the title.
        title = slack_unescape(str(att.get("fallback") or "")).split(" | ")[0].strip()
    text = slack_unescape(str(att.get("text") or ""))
    footer = str(att.get("footer") or "")
    grafana = footer.startswith("Grafana") or "**Firing**" in text or "**Resolved**" in text

    alerts = _parse_grafana_text(text) if grafana else _parse_our_text(text)
    field_labels = _field_labels(att.get("fields"))
    if field_labels:
        for a in alerts:
            for k, v in field_labels.items():
                a.labels.setdefault(k, v)

    status: Status | None = None
    group_values, common_values = "", []
    m = _SUBJECT.match(title)
    if m:
        status = "firing" if m.group("status") == "FIRING" else "resolved"
        group_values, common_values = _split_subject_rest(m.group("rest"))
    elif alerts:
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    if status is None:
        return None  # neither an alert title nor alert lines: not an alert notification
    if not alerts and "alertname" in field_labels:
        alerts = [ParsedAlert(status=status, labels=dict(field_labels))]
    return AlertNotification(origin="grafana-slack" if grafana else "alertmanager-slack", status=status,
                             group_values=group_values, common_values=common_values, alerts=alerts, title=title)


def _split_subject_rest(rest: str) -> tuple[str, list[str]]:
    """'MilvusSlow prod-eu (critical milvus)' -> ('MilvusSlow prod-eu', ['critical milvus'])."""
    rest = rest.strip()
    if rest.endswith(")"):
        if rest.startswith("("):
            return "", [rest[1:-1].strip()]
        i = rest.find(" (")
        if i >= 0:
            return rest[:i].strip(), [rest[i + 2:-1].strip()]
    return rest, []


def _field_labels(fields: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in fields or []:
        if isinstance(f, dict) and _LABEL_NAME.match(str(f.get("title") or "")):
            out[str(f["title"])] = slack_unescape(str(f.get("value") or "")).strip().strip("`")
    return out


def _unquote(go_quoted: str) -> str:
    try:
        return str(json.loads(go_quoted))
    except ValueError:  # Go's %q can emit \x escapes, which JSON lacks
        return go_quoted[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def parse_time(text: str | None) -> datetime | None:
    """RFC 3339 (Go prints up to nanoseconds; Python keeps microseconds). Go's zero time means unset."""
    if not text or text.startswith(_GO_ZERO_TIME):
        return None
    t = text.strip().replace("Z", "+00:00")
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", t)
    if m and m.group(2):
        t = m.group(1) + m.group(2)[:7] + m.group(3)
    try:
        at = datetime.fromisoformat(t)
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _parse_our_text(text: str) -> list[ParsedAlert]:
    """Our template: a `labels:` line then an `alert:` line per alert."""
    alerts: list[ParsedAlert] = []
    labels: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("labels:"):
            labels = {k: _unquote(v) for k, v in _OUR_LABELS.findall(line[len("labels:"):])}
        elif line.startswith("alert:") and labels is not None:
            kv = dict(_OUR_ALERT.findall(line[len("alert:"):]))
            status: Status = "resolved" if kv.get("status") == "resolved" else "firing"
            alerts.append(ParsedAlert(status=status, labels=labels, starts_at=parse_time(kv.get("startsAt")),
                                      ends_at=parse_time(kv.get("endsAt")) if status == "resolved" else None,
                                      fingerprint=kv.get("fingerprint") or None))
            labels = None
    return alerts


def _parse_grafana_text(text: str) -> list[ParsedAlert]:
    """Grafana's default message: **Firing** / **Resolved** sections, then per alert Value/Labels/Annotations."""
    alerts: list[ParsedAlert] = []
    status: Status = "firing"
    section = ""
    current: ParsedAlert | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped == "**Firing**":
            status, section, current = "firing", "", None
        elif stripped == "**Resolved**":
            status, section, current = "resolved", "", None
        elif stripped.startswith("Value:"):
            current = ParsedAlert(status=status)
            alerts.append(current)
            section = ""
        elif stripped == "Labels:":
            if current is None or current.labels:
                current = ParsedAlert(status=status)
                alerts.append(current)
            section = "labels"
        elif stripped == "Annotations:":
            section = "annotations"
        elif stripped.startswith(("Source:", "Silence:", "Dashboard:", "Panel:")):
            section = ""
            if current is not None and stripped.startswith("Source:"):
                current.generator_url = stripped[len("Source:"):].strip() or None
        elif current is not None and section:
            m = _GRAFANA_PAIR.match(line)
            if m:
                target = current.labels if section == "labels" else current.annotations
                target[m.group(1)] = m.group(2).strip()
    return [a for a in alerts if a.labels]

