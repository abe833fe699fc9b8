"""`clusters` health query: the cluster's matchers go in through bot.evidence.promql, escaped.

Runs against the session's real Prometheus (tests/fixtures/prometheus.py) so a badly escaped
value would show up as Prometheus refusing the query.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from bot.commands.clusters import health_query, probe_prometheus
from bot.evidence.promql import escape_string
from tests.fixtures.prometheus import WEIRD_CLUSTER, MilvusScenario, cluster_config

QUOTE_BACKSLASH = 'a"b\\c'


def test_health_query_escapes_quote_and_backslash_in_label_value() -> None:
    query = health_query(cluster_config("q", "http://127.0.0.1:9", {"namespace": QUOTE_BACKSLASH}))
    assert 'namespace="a\\"b\\\\c"' in query
    # The value cannot end the string early: the unescaped form never appears.
    assert 'namespace="a"b' not in query
    assert 'query_type="search"' in query


def test_health_query_escapes_control_characters_like_the_signal_queries() -> None:
    query = health_query(cluster_config("w", "http://127.0.0.1:9", {"cluster": WEIRD_CLUSTER}))
    assert f"cluster={escape_string(WEIRD_CLUSTER)}" in query
    assert "\n" not in query


def _status(url: str, query: str) -> str:
    full = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        with urllib.request.urlopen(full, timeout=10) as resp:
            return str(json.loads(resp.read())["status"])
    except urllib.error.HTTPError as e:
        return str(json.loads(e.read())["errorType"])


def test_real_prometheus_accepts_the_escaped_query(milvus_prom: MilvusScenario) -> None:
    url = milvus_prom.server.url
    cluster = cluster_config("weird", url, {"cluster": QUOTE_BACKSLASH})
    assert _status(url, health_query(cluster)) == "success"
    status, _p99 = probe_prometheus(cluster)
    assert status == "ok"
    # Pasted unescaped, the same value breaks the query: that is what the escaping prevents.
    naive = health_query(cluster).replace(escape_string(QUOTE_BACKSLASH), f'"{QUOTE_BACKSLASH}"')
    assert _status(url, naive) == "bad_data"


def test_bad_label_name_is_reported_not_raised() -> None:
    cluster = cluster_config("b", "http://127.0.0.1:9", {"cluster": "x"})
    assert cluster.prometheus is not None
    cluster.prometheus.matchers = {"bad-name": "x"}
    status, p99 = probe_prometheus(cluster)
    assert status.startswith("bad matchers") and "bad-name" in status and p99 is None
