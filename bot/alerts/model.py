"""What an alert notification says, whoever sent it (Alertmanager or Grafana, Slack message or webhook)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Status = Literal["firing", "resolved"]
Origin = Literal["alertmanager-slack", "grafana-slack", "alertmanager-webhook"]


@dataclass(slots=True)
class ParsedAlert:
    """One alert of a notification. Fields a template does not show stay None/empty."""

    status: Status
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    fingerprint: str | None = None
    generator_url: str | None = None


@dataclass(slots=True)
class AlertNotification:
    """One notification of one alert group.

    `group_values` is what Alertmanager's and Grafana's default title shows after the status:
    the group labels' values sorted by label name, joined by spaces. The webhook computes the same
    string from `groupLabels`, so both routes name a group identically.
    """

    origin: Origin
    status: Status
    group_values: str = ""
    common_values: list[str] = field(default_factory=list)
    alerts: list[ParsedAlert] = field(default_factory=list)
    title: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    group_key: str | None = None
    truncated_alerts: int = 0
    # Where the notification was seen, for Slack messages (the thread to answer in).
    channel: str | None = None
    message_ts: str | None = None
    observed_ts: str | None = None  # when it was posted or, for an edit, edited
    edited: bool = False

    @property
    def labels_known(self) -> bool:
        return any(a.labels for a in self.alerts)

    @property
    def tokens(self) -> list[str]:
        """The label values the title shows, for templates that show no label names."""
        out = self.group_values.split() if self.group_values else []
        for v in self.common_values:
            out.extend(v.split())
        return out


@dataclass(slots=True)
class AlertEvent:
    """A recognised Milvus alert on one configured cluster: what the incident lifecycle acts on."""

    status: Status
    cluster: str
    alertname: str
    ident: str  # cluster + group: one incident at a time per ident
    firing_key: str  # ident + the firing's start (else the Slack message): one diagnosis per key
    observed_at: datetime  # when the bot saw it (the Slack message time, or now)
    origin: Origin
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    collection: str | None = None
    summary: str | None = None
    fingerprint: str | None = None
    group_key: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    edited: bool = False
