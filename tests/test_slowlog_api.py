"""The Milvus 2.5+ proxy endpoint /api/v1/_cluster/slow_query, served by a loopback HTTP server.

No Milvus 2.5 server can run here (only the 2.3.5 wheel exists, which has no such endpoint), so
this server is the one Milvus-side fake: it serves a recorded array in the documented SlowQuery
shape (milvus pkg/util/metricsinfo: SlowQuery, QueryParams, SearchParams).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.config import ClusterConfig, LogsConfig, MilvusConfig
from bot.models import SlowRequest, TimeWindow
from bot.slowlog.collect import collect_slowlog
from bot.slowlog.sources.slow_query_api import map_entry, parse_kv_params

RECORDED = Path(__file__).parent / "data" / "slowlog" / "slow_query_api.json"
WINDOW = TimeWindow(start=datetime(2026, 3, 2, 10, 0, tzinfo=UTC), end=datetime(2026, 3, 2, 10, 15, tzinfo=UTC))


class ProxyHTTP:
    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = RECORDED.read_bytes()
        self.paths: list[str] = []
        self.url = ""


@pytest.fixture
def proxy() -> Iterator[ProxyHTTP]:
    state = ProxyHTTP()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.paths.append(self.path)
            if self.path != "/api/v1/_cluster/slow_query":
                status, body = 404, b"404 page not found"
            else:
                status, body = state.status, state.body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def cluster(url: str) -> ClusterConfig:
    return ClusterConfig(name="c25", logs=LogsConfig(slow_query_api=url, timeout_s=3), milvus_version="2.5.14")


def _by_trace(reqs: list[SlowRequest]) -> dict[str, SlowRequest]:
    return {r.trace_id or "": r for r in reqs}


def test_recorded_answer_is_mapped_field_by_field(proxy: ProxyHTTP) -> None:
    got: list[SlowRequest] = []
    ev, missing = collect_slowlog(cluster(proxy.url), WINDOW, None, sinks=[got.append])
    assert ev is not None
    assert proxy.paths == ["/api/v1/_cluster/slow_query"]
    assert ev.source == f"slow_query_api:{proxy.url}"
    assert (ev.lines_read, ev.slow_lines, ev.malformed) == (5, 3, 1)  # one outside the window, one without duration
    assert "without duration" in ev.malformed_samples[0]
    assert (ev.threshold_s, ev.threshold_per_nq) == (5.0, True)
    assert [m.what for m in missing] == ["slow requests before the last 15 min"]
    reqs = _by_trace(got)

    s = reqs["5a1f0e8c3b7d4e29a6c1f0b2d3e4f5a6"]
    assert (s.kind, s.fmt, s.time, s.role, s.db, s.collection, s.partitions) == (
        "search", "api", datetime(2026, 3, 2, 10, 1, 2, tzinfo=UTC), "proxy", "default", "docs", [])
    assert (s.dsl, s.nq, s.topk, s.metric_type, s.anns_field, s.search_params) == (
        'lang == "en"', 4, 10, "COSINE", "vec", {"ef": 128})
    assert (s.output_fields, s.consistency_level, s.use_default_consistency) == (["title", "body"], "Bounded", True)
    assert s.guarantee_timestamp == 464912345678901249 and type(s.guarantee_timestamp) is int
    assert s.duration_s == pytest.approx(3.2) and s.duration_per_nq_s is None and s.dsls == []
    assert json.loads(s.raw)["user"] == "root"

    h = reqs["6b2f0e8c3b7d4e29a6c1f0b2d3e4f5a7"]
    assert (h.kind, h.nq, h.partitions, h.output_fields) == ("hybrid_search", 4, ["p2026", "p2025"], ["title"])
    assert h.dsls == ["year >= 2024", ""] and h.dsl == "year >= 2024"
    assert (h.topk, h.metric_type, h.anns_field, h.search_params) == (None, None, None, {})  # sub-requests differ
    assert (h.consistency_level, h.use_default_consistency) == ("Session", False)
    assert h.guarantee_timestamp == 464912399999999999 and h.duration_s == pytest.approx(301.5)

    q = reqs["7c3f0e8c3b7d4e29a6c1f0b2d3e4f5a8"]
    assert (q.kind, q.db, q.collection, q.dsl, q.output_fields) == (
        "query", "analytics", "events", 'meta["tag"] in ["a", "b"]', ["id", "meta"])
    assert (q.nq, q.topk, q.guarantee_timestamp, q.use_default_consistency) == (None, None, 0, False)
    assert q.duration_s == pytest.approx(0.85)
    assert [r.trace_id for r in ev.requests] == [h.trace_id, s.trace_id, q.trace_id]  # slowest first


def test_collection_filter(proxy: ProxyHTTP) -> None:
    ev, _ = collect_slowlog(cluster(proxy.url), WINDOW, "events")
    assert ev is not None and [r.collection for r in ev.requests] == ["events"]


def test_empty_answer_null_and_array(proxy: ProxyHTTP) -> None:
    for body in (b"null", b"[]"):
        proxy.body = body
        ev, _ = collect_slowlog(cluster(proxy.url), WINDOW, None)
        assert ev is not None and (ev.slow_lines, ev.lines_read) == (0, 0)


def test_404_means_older_than_25_or_webui_off(proxy: ProxyHTTP) -> None:
    proxy.status = 404
    ev, missing = collect_slowlog(cluster(proxy.url), WINDOW, None)
    assert ev is None and "answered 404: Milvus older than 2.5" in missing[0].reason


def test_500_and_non_array(proxy: ProxyHTTP) -> None:
    proxy.status, proxy.body = 500, b'{"message":"marshal failed"}'
    ev, missing = collect_slowlog(cluster(proxy.url), WINDOW, None)
    assert ev is None and "HTTP 500" in missing[0].reason and "marshal failed" in missing[0].reason
    proxy.status, proxy.body = 200, b'{"not": "a list"}'
    ev, missing = collect_slowlog(cluster(proxy.url), WINDOW, None)
    assert ev is None and "not the array" in missing[0].reason


def test_recent_window_has_no_retention_note(proxy: ProxyHTTP) -> None:
    now = datetime.now(UTC)
    entry = json.loads(RECORDED.read_text())[0]
    entry["time"] = (now - timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")
    proxy.body = json.dumps([entry]).encode()
    ev, missing = collect_slowlog(cluster(proxy.url), TimeWindow(start=now - timedelta(minutes=10), end=now), None)
    assert ev is not None and ev.slow_lines == 1 and missing == []


def test_derived_url_failure_is_reported() -> None:
    c = ClusterConfig(name="c", milvus_version="2.5.4", milvus=MilvusConfig(uri="http://127.0.0.3:19530"),
                      logs=LogsConfig(timeout_s=2))
    ev, missing = collect_slowlog(c, WINDOW, None)
    assert ev is None
    assert "http://127.0.0.3:9091/api/v1/_cluster/slow_query" in missing[0].reason
    assert "derived from milvus.uri" in missing[0].reason


def test_kv_params_split_only_at_top_level() -> None:
    assert parse_kv_params('topk=10,params={"nprobe":16,"x":[1,2]},metric_type=L2,note="a,b"') == {
        "topk": "10", "params": '{"nprobe":16,"x":[1,2]}', "metric_type": "L2", "note": '"a,b"'}
    assert parse_kv_params("") == {}


def test_unknown_type_is_malformed() -> None:
    from bot.slowlog.parser import MalformedLine

    with pytest.raises(MalformedLine, match="unknown slow query type"):
        map_entry({"type": "Delete", "duration": "1s", "time": "2026-03-02 10:00:00"})
    with pytest.raises(MalformedLine, match="guarantee_timestamp"):
        map_entry({"type": "Query", "duration": "1s", "time": "2026-03-02 10:00:00", "guarantee_timestamp": "x"})


def test_credentials_in_the_url_never_show(proxy: ProxyHTTP) -> None:
    proxy.status = 404
    ev, missing = collect_slowlog(cluster(proxy.url.replace("http://", "http://admin:hunter2@")), WINDOW, None)
    assert ev is None and "hunter2" not in repr(missing)
    assert missing[0].what == f"slow_query_api:{proxy.url}"
