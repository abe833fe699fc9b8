"""`milvus-triage clusters`: each configured cluster with a one-line health (also `/milvus clusters`).

Per cluster, at once: does Prometheus answer, what is the proxy search p99 over the last 5
minutes, does Milvus answer. Each probe has a short timeout; a dead one is reported, not raised.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.commands._common import load_or_exit
from bot.config import AppConfig, ClusterConfig
from bot.evidence.promql import PromQLError, render
from bot.format import format_value

_DATA = Path(__file__).resolve().parent.parent / "data" / "cluster_health.yaml"


@dataclass
class ClusterHealth:
    name: str
    description: str | None
    prometheus: str  # "ok", "not configured", or why it failed
    p99_ms: float | None
    milvus: str

    def line(self) -> str:
        p99 = f"p99 {format_value(self.p99_ms, 'ms')} (5m)" if self.p99_ms is not None else "p99 n/a"
        return f"{self.name}: {p99} · Prometheus {self.prometheus} · Milvus {self.milvus}"


def _queries() -> dict[str, Any]:
    return yaml.safe_load(_DATA.read_text(encoding="utf-8"))


def health_query(cluster: ClusterConfig) -> str:
    """The p99 query with the cluster's matchers put in by the one PromQL renderer (values escaped)."""
    assert cluster.prometheus is not None
    return render(_queries()["proxy_p99_5m"]["query"], cluster.prometheus.matchers, range_s=300)


def _why(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        return f"unreachable ({e.reason})"
    return f"{type(e).__name__}"


def probe_prometheus(cluster: ClusterConfig) -> tuple[str, float | None]:
    if cluster.prometheus is None:
        return "not configured", None
    data = _queries()
    try:
        query = health_query(cluster)
    except PromQLError as e:
        return f"bad matchers ({e})", None
    url = cluster.prometheus.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    req = urllib.request.Request(url)
    if cluster.prometheus.token_env and os.environ.get(cluster.prometheus.token_env):
        req.add_header("Authorization", f"Bearer {os.environ[cluster.prometheus.token_env]}")
    try:
        with urllib.request.urlopen(req, timeout=float(data.get("timeout_s", 3))) as resp:
            body = json.loads(resp.read())
    except Exception as e:
        return _why(e), None
    if body.get("status") != "success":
        return f"error ({body.get('errorType', 'unknown')})", None
    result = body.get("data", {}).get("result", [])
    if not result:
        return "ok", None
    value = float(result[0]["value"][1])
    return "ok", None if math.isnan(value) else value


def probe_milvus(cluster: ClusterConfig) -> str:
    if cluster.milvus is None:
        return "not configured"
    uri = cluster.milvus.uri
    if not re.match(r"^(https?|tcp|grpcs?)://", uri):
        # Milvus Lite keeps a file lock; opening it here could disturb a running diagnosis.
        return "Lite file present" if Path(uri).exists() else "Lite file missing"
    parsed = urllib.parse.urlsplit(uri)
    host, port = parsed.hostname or "localhost", parsed.port or 19530
    try:
        with socket.create_connection((host, port), timeout=min(3.0, cluster.milvus.timeout_s)):
            return "ok (port open)"
    except OSError as e:
        return f"unreachable ({e.strerror or type(e).__name__})"


def check_cluster(cluster: ClusterConfig) -> ClusterHealth:
    prom, p99 = probe_prometheus(cluster)
    return ClusterHealth(cluster.name, cluster.description, prom, p99, probe_milvus(cluster))


def check_clusters(config: AppConfig, names: list[str] | None = None) -> list[ClusterHealth]:
    clusters = [c for c in config.clusters if names is None or c.name in names]
    if not clusters:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(clusters)), thread_name_prefix="health") as pool:
        return list(pool.map(check_cluster, clusters))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clusters", help="list configured clusters with a one-line health each")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.escape import terminal_escape

    config = load_or_exit(args.config)
    results = check_clusters(config)
    if getattr(args, "json", False):
        print(json.dumps([r.__dict__ for r in results], indent=2))
    else:
        for r in results:
            print(terminal_escape(r.line()))
    return 0 if all(r.prometheus in ("ok", "not configured") for r in results) else 1
