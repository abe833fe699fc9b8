"""The Alertmanager webhook payload, version 4 (prometheus/alertmanager notify/webhook), validated."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.alerts.model import AlertNotification, ParsedAlert
from bot.alerts.slack_message import parse_time


class _Lenient(BaseModel):
    # Alertmanager adds fields over time; unknown ones are ignored rather than rejected.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WebhookAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str | None = None

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _time(cls, v: object) -> datetime | None:
        if v is None or isinstance(v, datetime):
            return v
        if not isinstance(v, str):
            raise ValueError("expected an RFC 3339 time string")
        parsed = parse_time(v)
        if parsed is None and not v.startswith("0001-01-01"):
            raise ValueError(f"cannot read time {v[:40]!r}")
        return parsed


class WebhookPayload(_Lenient):
    version: str
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[WebhookAlert]
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")


def group_values(labels: dict[str, str]) -> str:
    """Exactly what `{{ .GroupLabels.SortedPairs.Values | join " " }}` prints in the default title."""
    return " ".join(labels[k] for k in sorted(labels))


def to_notification(payload: WebhookPayload) -> AlertNotification:
    common_rest = {k: v for k, v in payload.common_labels.items() if k not in payload.group_labels}
    return AlertNotification(
        origin="alertmanager-webhook",
        status=payload.status,
        group_values=group_values(payload.group_labels),
        common_values=[group_values(common_rest)] if common_rest else [],
        alerts=[ParsedAlert(status=a.status, labels=dict(a.labels), annotations=dict(a.annotations),
                            starts_at=a.starts_at, ends_at=a.ends_at if a.status == "resolved" else None,
                            fingerprint=a.fingerprint, generator_url=a.generator_url) for a in payload.alerts],
        group_labels=dict(payload.group_labels),
        group_key=payload.group_key or None,
        truncated_alerts=payload.truncated_alerts,
    )
