"""Which notifications are Milvus alerts, on which configured cluster, and under which keys.

Keys (see docs/notes/alerts.md):
* ident      = cluster | group label values          one open incident per ident (one thread per group)
* firing_key = fire | ident | startsAt (UTC, seconds)  one diagnosis per firing
  startsAt is the earliest start among the group's firing Milvus alerts: the webhook and our Slack
  template both carry it, so both routes produce the same key. Default templates do not show it;
  their key falls back to the Slack message, and the open incident (same ident) absorbs the other
  route's copy of the same firing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from datetime import UTC, datetime

from bot.alerts.model import AlertEvent, AlertNotification, ParsedAlert
from bot.config import AlertsConfig, AppConfig

log = logging.getLogger(__name__)

# Milvus collection names: letters, digits and underscores, not starting with a digit.
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_KEY_LIMIT = 400


def bounded(key: str, limit: int = _KEY_LIMIT) -> str:
    """Keys stay readable and fit the indexed columns; long ones keep a prefix plus a hash."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return f"{key[: limit - 26]}#{digest}"


def ts_to_datetime(ts: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC) if ts else None
    except ValueError:
        return None


def alert_channels(config: AppConfig) -> set[str]:
    """Channels whose alert messages the bot reads: alerts.channels plus every cluster's alert_channel."""
    return set(config.alerts.channels) | {c.alert_channel for c in config.clusters if c.alert_channel}


def recognise(notification: AlertNotification, config: AppConfig,
              now: datetime | None = None) -> list[AlertEvent]:
    """The Milvus alerts in a notification, one event per configured cluster; [] when none match."""
    now = now or datetime.now(UTC)
    observed = ts_to_datetime(notification.observed_ts or notification.message_ts) or now
    if notification.labels_known:
        return _from_labels(notification, config, observed)
    return _from_title(notification, config, observed)


def _is_milvus(labels: dict[str, str], cfg: AlertsConfig) -> bool:
    name = labels.get("alertname", "")
    if not name or not any(re.search(p, name) for p in cfg.alertname_patterns):
        return False
    return all(re.search(p, labels.get(label, "")) for label, p in cfg.label_patterns.items())


def _cluster_of(value: str | None, config: AppConfig) -> str | None:
    if not value:
        return None
    name = config.alerts.cluster_label_map.get(value, value)
    return name if name in config.cluster_names else None


def _from_labels(n: AlertNotification, config: AppConfig, observed: datetime) -> list[AlertEvent]:
    cfg = config.alerts
    by_cluster: dict[str, list[ParsedAlert]] = defaultdict(list)
    for a in n.alerts:
        if not _is_milvus(a.labels, cfg):
            continue
        cluster = _cluster_of(a.labels.get(cfg.cluster_label), config)
        if cluster is None:
            log.info("Milvus alert %s has %s=%r, which matches no configured cluster: ignored",
                     a.labels.get("alertname"), cfg.cluster_label, a.labels.get(cfg.cluster_label))
            continue
        by_cluster[cluster].append(a)
    events = []
    for cluster, alerts in by_cluster.items():
        firing = [a for a in alerts if a.status == "firing"]
        status = "firing" if firing and n.status == "firing" else "resolved"
        pool = firing if status == "firing" else alerts
        starts = [a.starts_at for a in pool if a.starts_at]
        first = min(pool, key=lambda a: (a.starts_at or observed, a.fingerprint or ""))
        ends = [a.ends_at for a in alerts if a.ends_at]
        collections = {a.labels.get(cfg.collection_label) for a in pool}
        collection = collections.pop() if len(collections) == 1 else None
        events.append(_event(n, cluster, first.labels.get("alertname", ""), status, observed,
                             starts_at=min(starts) if starts else None,
                             ends_at=max(ends) if ends and status == "resolved" else None,
                             collection=collection if collection and _COLLECTION.match(collection) else None,
                             summary=first.annotations.get("summary") or first.annotations.get("description"),
                             fingerprint=first.fingerprint))
    return events


def _from_title(n: AlertNotification, config: AppConfig, observed: datetime) -> list[AlertEvent]:
    """Alertmanager's default template shows label values only: match them as tokens."""
    cfg = config.alerts
    tokens = n.tokens
    alertname = next((t for t in tokens if any(re.search(p, t) for p in cfg.alertname_patterns)), None)
    if alertname is None:
        return []
    if not all(any(re.search(p, t) for t in tokens) for p in cfg.label_patterns.values()):
        return []
    cluster = next((c for c in (_cluster_of(t, config) for t in tokens) if c), None)
    if cluster is None:
        log.info("Milvus alert %s names no configured cluster in its title: ignored", alertname)
        return []
    return [_event(n, cluster, alertname, n.status, observed)]


def _event(n: AlertNotification, cluster: str, alertname: str, status: str, observed: datetime, *,
           starts_at: datetime | None = None, ends_at: datetime | None = None, collection: str | None = None,
           summary: str | None = None, fingerprint: str | None = None) -> AlertEvent:
    group = n.group_values or f"alertname={alertname}"
    ident = bounded(f"{cluster}|{group}")
    if starts_at is not None:
        firing_key = bounded(f"fire|{ident}|{starts_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}")
    else:
        firing_key = bounded(f"fire|{ident}|msg:{n.channel}:{n.message_ts}")
    return AlertEvent(status="firing" if status == "firing" else "resolved", cluster=cluster, alertname=alertname,
                      ident=ident, firing_key=firing_key, observed_at=observed, origin=n.origin,
                      starts_at=starts_at, ends_at=ends_at, collection=collection, summary=summary,
                      fingerprint=fingerprint, group_key=n.group_key, channel=n.channel,
                      message_ts=n.message_ts, edited=n.edited)
