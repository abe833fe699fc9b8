"""Cluster configuration: `clusters.yaml`, validated with pydantic on load.

The path comes from `--config`, else `MILVUS_TRIAGE_CONFIG`, else `./clusters.yaml`.
Secrets are never in the file: the file names the environment variables that hold them.
A validation error names the file, the cluster and the field.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = "clusters.yaml"
CONFIG_ENV = "MILVUS_TRIAGE_CONFIG"

# Label names Prometheus accepts; values are free text and get escaped when injected (bot.evidence.promql).
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Cluster names are typed by users in Slack: keep them simple so they never need quoting.
_CLUSTER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


class ConfigError(Exception):
    """A configuration problem, already phrased for a human: names the file, the cluster and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrometheusConfig(_Strict):
    url: str
    # Label matchers that select this cluster's series, e.g. {namespace: milvus, app_kubernetes_io_instance: prod-eu}.
    # Exact-match only; values are escaped when injected into PromQL.
    matchers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = 10.0
    concurrency: int = Field(default=8, ge=1, le=64)  # queries in flight at once per diagnosis
    # Environment variable holding a bearer token for Prometheus, if it needs one.
    token_env: str | None = None

    @field_validator("matchers")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid Prometheus label name")
        return v


class LokiConfig(_Strict):
    url: str
    selector: str  # LogQL stream selector, e.g. '{namespace="milvus", app="milvus", component="proxy"}'
    token_env: str | None = None
    org_id: str | None = None  # X-Scope-OrgID for multi-tenant Loki
    timeout_s: float = 15.0
    page_limit: int = 5000
    max_lines: int = 500_000  # stop paginating after this many lines (reported as missing), bounds time


class LogsConfig(_Strict):
    """Exactly one of: files (a glob), loki, slow_query_api (Milvus 2.5+ proxy metrics port)."""

    files: str | list[str] | None = None
    loki: LokiConfig | None = None
    slow_query_api: str | None = None  # e.g. http://milvus-proxy:9091
    timeout_s: float = 15.0

    @model_validator(mode="after")
    def _one_source(self) -> LogsConfig:
        chosen = [n for n in ("files", "loki", "slow_query_api") if getattr(self, n)]
        if len(chosen) > 1:
            raise ValueError(f"give only one log source, not {' and '.join(chosen)}")
        return self


class MilvusConfig(_Strict):
    uri: str  # http://host:19530, or a local Milvus Lite file (./demo.db)
    token_env: str | None = None  # env var holding "user:password" or an API key
    db: str = "default"
    timeout_s: float = 10.0
    # Added by the milvus-source issue:
    budget_s: float = 30.0  # wall-clock cap for all Milvus calls of one diagnosis
    max_collections: int = Field(default=20, ge=1)  # without a collection, read at most this many (by name)
    small_segment_rows: int = 1024  # sealed segments below this are "small" (rootCoord.minSegmentSizeToEnableIndex)
    small_segment_ratio: float = 0.1  # ... and so are those below this share of the median sealed segment


class AccessConfig(_Strict):
    """Who may ask about this cluster in Slack. Empty lists mean everyone."""

    channels: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)


class ClusterConfig(_Strict):
    name: str
    description: str | None = None
    prometheus: PrometheusConfig | None = None
    logs: LogsConfig | None = None
    milvus: MilvusConfig | None = None
    # Version to assume when neither Prometheus (milvus_build_info) nor pymilvus can tell, e.g. "2.3.5".
    milvus_version: str | None = None
    grafana_url: str | None = None  # a dashboard URL; the bot adds from/to for the window
    alert_channel: str | None = None  # Slack channel id where this cluster's alerts land
    # Per-cluster overrides of rule thresholds, by threshold name (see playbooks/thresholds.yaml).
    thresholds: dict[str, float] = Field(default_factory=dict)
    access: AccessConfig = Field(default_factory=AccessConfig)
    cooldown_s: float | None = None  # alert noise control; falls back to alerts.cooldown_s

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _CLUSTER_NAME.match(v):
            raise ValueError("use letters, digits, '-', '_' or '.', at most 63 characters")
        return v


class SlackConfig(_Strict):
    """Slack settings that are not secrets. Tokens come only from SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET / SLACK_APP_TOKEN."""

    command: str = "/milvus"
    default_window: str = "30m"


class AlertsConfig(_Strict):
    """How alert messages in channels are recognised as Milvus alerts."""

    channels: list[str] = Field(default_factory=list)  # alert channels to watch (ids)
    alertname_patterns: list[str] = Field(default_factory=lambda: [r"(?i)milvus"])  # regexes on alertname
    label_patterns: dict[str, str] = Field(default_factory=dict)  # label -> regex that must match
    cluster_label: str = "cluster"  # the label that names the cluster
    cluster_label_map: dict[str, str] = Field(default_factory=dict)  # label value -> configured cluster name
    default_window: str = "30m"
    cooldown_s: float = 900.0
    webhook_token_env: str | None = None  # env var with the bearer token Alertmanager must send
    # Added by the alerts issue:
    webhook_channel: str | None = None  # where webhook threads go when the cluster has no alert_channel
    collection_label: str = "collection_name"  # alert label naming a collection, when the rule keeps one
    max_window: str = "6h"  # cap on the diagnosed window (startsAt - default_window .. now)
    incident_max_age_s: float = 86400.0  # an open incident older than this was missed resolving; a new firing reopens
    resolve_wait_s: float = 60.0  # how long a resolve notice waits for a running diagnosis's finding

    @field_validator("default_window", "max_window")
    @classmethod
    def _window(cls, v: str) -> str:
        from bot.timewindow import parse_duration

        parse_duration(v)  # raises with a message that names the bad value
        return v

    @field_validator("alertname_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"alertname pattern {p!r} is not a valid regex: {e}") from e
        return v

    @field_validator("label_patterns")
    @classmethod
    def _label_patterns(cls, v: dict[str, str]) -> dict[str, str]:
        for name, p in v.items():
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"label pattern for {name!r} ({p!r}) is not a valid regex: {e}") from e
        return v


class HandoffConfig(_Strict):
    channel: str | None = None
    schedules: list[str] = Field(default_factory=list)  # cron expressions, e.g. "0 8,20 * * *"
    timezone: str = "UTC"
    # Added by the alerts issue:
    default_since: str = "12h"  # window of `/milvus handoff` and `milvus-triage handoff` without --since
    max_items: int = Field(default=5, ge=1, le=50)  # per list, per cluster; the rest is folded into "+N more"

    @field_validator("default_since")
    @classmethod
    def _since(cls, v: str) -> str:
        from bot.timewindow import parse_duration

        parse_duration(v)
        return v

    @field_validator("schedules")
    @classmethod
    def _crons(cls, v: list[str]) -> list[str]:
        from croniter import croniter

        for expr in v:
            if not croniter.is_valid(expr):
                raise ValueError(f"{expr!r} is not a valid cron expression (e.g. '0 8,20 * * *')")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'Europe/Paris')") from e
        return v


class StoreConfig(_Strict):
    # SQLAlchemy URL; DATABASE_URL in the environment wins. SQLite by default: zero setup.
    url: str = "sqlite:///milvus-triage.db"


class AppConfig(_Strict):
    clusters: list[ClusterConfig]
    slack: SlackConfig = Field(default_factory=SlackConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    handoff: HandoffConfig = Field(default_factory=HandoffConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    source_path: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> AppConfig:
        seen: set[str] = set()
        for c in self.clusters:
            if c.name in seen:
                raise ValueError(f"cluster name {c.name!r} appears twice")
            seen.add(c.name)
        return self

    @property
    def cluster_names(self) -> list[str]:
        return [c.name for c in self.clusters]

    def cluster(self, name: str) -> ClusterConfig:
        """The named cluster, or a ConfigError that lists the known ones and suggests the closest."""
        for c in self.clusters:
            if c.name == name:
                return c
        raise UnknownClusterError(name, self.cluster_names)


class UnknownClusterError(ConfigError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        self.suggestion = close[0] if close else None
        hint = f" Did you mean {self.suggestion!r}?" if self.suggestion else ""
        listed = ", ".join(known) if known else "(none configured)"
        super().__init__(f"unknown cluster {name!r}.{hint} Known clusters: {listed}")


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: str | Path | None = None) -> AppConfig:
    p = config_path(str(path) if path else None)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(
            f"{p}: config file not found (set --config or {CONFIG_ENV}; `milvus-triage demo` needs none)"
        ) from e
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from e
    return parse_config(data, source=str(p))


def parse_config(data: Any, source: str = "<config>") -> AppConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'clusters' list")
    try:
        cfg = AppConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(e, data, source)) from e
    cfg.source_path = source
    return cfg


def _describe(e: ValidationError, data: dict[str, Any], source: str) -> str:
    lines = []
    for err in e.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "clusters" and isinstance(loc[1], int):
            try:
                name = data["clusters"][loc[1]].get("name", f"#{loc[1] + 1}")
            except (AttributeError, IndexError, KeyError, TypeError):
                name = f"#{loc[1] + 1}"
            where = f"cluster {name!r}, "
            loc = loc[2:]
        field = ".".join(str(x) for x in loc) or "(cluster)"
        lines.append(f"{source}: {where}field {field!r}: {err['msg']}")
    return "\n".join(lines)
