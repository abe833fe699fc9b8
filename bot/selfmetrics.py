"""The bot's own Prometheus metrics, served on /metrics in HTTP mode.

One registry per process-level `SelfMetrics` (not the global default) so tests and several apps
in one process do not collide.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

STAGES = ("ack", "gather", "evaluate", "render", "deliver")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class SelfMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter("milvus_triage_commands_total", "Commands handled, by subcommand and outcome",
                                ["subcommand", "outcome"], registry=r)
        self.stage_seconds = Histogram("milvus_triage_stage_seconds", "Time spent per pipeline stage",
                                       ["stage"], buckets=_BUCKETS, registry=r)
        self.source_failures = Counter("milvus_triage_evidence_source_failures_total",
                                       "Evidence that could not be gathered, by source", ["source"], registry=r)
        self.slack_errors = Counter("milvus_triage_slack_api_errors_total",
                                    "Slack Web API calls that failed, by method and error", ["method", "error"],
                                    registry=r)
        self.last_event = Gauge("milvus_triage_last_event_timestamp_seconds",
                                "Unix time of the last request received from Slack (stale => Socket Mode dropped)",
                                registry=r)
        self.last_event_at: float | None = None
        self.duplicates = Counter("milvus_triage_duplicate_events_total",
                                  "Events API retries dropped as duplicates", registry=r)

    def event_received(self) -> None:
        self.last_event_at = time.time()
        self.last_event.set(self.last_event_at)

    def command(self, subcommand: str, outcome: str) -> None:
        self.commands.labels(subcommand=subcommand, outcome=outcome).inc()

    def stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage=stage).observe(max(0.0, seconds))

    def slack_error(self, method: str, error: str) -> None:
        self.slack_errors.labels(method=method, error=error or "unknown").inc()

    def source_failed(self, source: str) -> None:
        self.source_failures.labels(source=source).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
