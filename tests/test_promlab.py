"""promlab: the OpenMetrics writer, promtool blocks and the real Prometheus server."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.promlab import (
    MILVUS_BUCKETS,
    OpenMetricsWriter,
    PrometheusServer,
    PromlabError,
    TimeRange,
    build_tsdb,
    create_blocks,
    expected_quantile,
    scrape_job,
    window_ranges,
)

T0 = 1_790_000_000.0


def _query(url: str, expr: str, at: float) -> list[dict[str, Any]]:
    qs = urllib.parse.urlencode({"query": expr, "time": f"{at}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{qs}", timeout=10) as r:
        return json.load(r)["data"]["result"]


def test_milvus_buckets() -> None:
    assert MILVUS_BUCKETS[0] == 1 and MILVUS_BUCKETS[-1] == 131072 and len(MILVUS_BUCKETS) == 18


def test_writer_text_format() -> None:
    w = OpenMetricsWriter(TimeRange(T0, T0 + 30), step_s=15)
    w.gauge("zeta", {"b": "2", "a": 'q"\\\n'}, lambda t: t - T0)
    w.counter("milvus_proxy_req_count", {"status": "success"}, rate=2.0)
    w.histogram("lat", {"node_id": "1"}, lambda t: [(450.0, 10), (20.0, 990)], buckets=[16, 32, 512])
    lines = w.text().splitlines()
    assert lines[-1] == "# EOF"
    # Families sorted by name, one # TYPE each, before their samples.
    assert [x for x in lines if x.startswith("# TYPE")] == [
        "# TYPE lat histogram", "# TYPE milvus_proxy_req_count counter", "# TYPE zeta gauge"]
    assert 'zeta{a="q\\"\\\\\\n",b="2"} 15 1790000015' in lines
    # Counter by rate: 0, 30, 60 over 0..30 s at 2/s.
    assert [x.split()[1] for x in lines if x.startswith("milvus_proxy_req_count")] == ["0", "30", "60"]
    # Histogram: cumulative buckets with le, then _count and _sum, per step.
    first = [x for x in lines if x.startswith("lat") and x.endswith(" 1790000000")]
    assert first == ['lat_bucket{node_id="1",le="16"} 0 1790000000', 'lat_bucket{node_id="1",le="32"} 990 1790000000',
                     'lat_bucket{node_id="1",le="512"} 1000 1790000000',
                     'lat_bucket{node_id="1",le="+Inf"} 1000 1790000000',
                     'lat_count{node_id="1"} 1000 1790000000', 'lat_sum{node_id="1"} 24300 1790000000']
    counts = [x.split()[1] for x in lines if x.startswith("lat_count")]
    assert counts == ["1000", "2000", "3000"]
    assert w.sample_count == 3 + 3 + 6 * 3


def test_writer_gaps_and_errors() -> None:
    w = OpenMetricsWriter(TimeRange(T0, T0 + 45), step_s=15)
    w.gauge("up", {"job": "m"}, lambda t: None if t == T0 + 15 else 1)
    assert len([x for x in w.text().splitlines() if x.startswith("up{")]) == 3
    with pytest.raises(ValueError, match="series defined twice"):
        w.gauge("up", {"job": "m"}, 1)
    with pytest.raises(ValueError, match="already declared as a gauge"):
        w.counter("up", {"job": "x"}, rate=1)
    with pytest.raises(ValueError, match="not a valid metric name"):
        w.gauge("bad-name", None, 1)
    with pytest.raises(ValueError, match="exactly one of rate= or total="):
        w.counter("c", None)
    with pytest.raises(ValueError, match="'le' is reserved"):
        w.histogram("h", {"le": "1"}, lambda t: [])


def test_window_ranges_cover_window_and_day_before() -> None:
    now, base = window_ranges(T0, 1800, pad_s=300)
    assert (now.start, now.end) == (T0 - 2100, T0 + 60)
    assert (base.start, base.end) == (T0 - 86400 - 2100, T0 - 86400 + 60)


def test_expected_quantile_matches_bucket_interpolation() -> None:
    assert expected_quantile(0.99, [(450.0, 40), (20.0, 960)]) == pytest.approx(448.0)
    assert expected_quantile(0.5, [(3.0, 1)]) == pytest.approx(3.0)  # (2,4] halfway
    assert expected_quantile(0.99, [(1e9, 1)]) == 131072.0  # +Inf bucket -> highest bound
    assert math.isnan(expected_quantile(0.99, []))


def test_blocks_and_server_answer_known_values(tmp_path: Path) -> None:
    w = OpenMetricsWriter(window_ranges(T0, 600), step_s=15)
    w.histogram("milvus_querynode_sq_queue_latency", {"query_type": "search"},
                lambda t: [(450.0, 40), (20.0, 960)] if t > T0 - 43200 else [(20.0, 1000)])
    w.counter("milvus_proxy_req_count", {"function_name": "Search", "status": "success"}, rate=12.5)
    tsdb = build_tsdb(w, tmp_path)
    assert any(p.is_dir() and (p / "meta.json").exists() for p in tsdb.iterdir())
    p99 = 'histogram_quantile(0.99, sum by (le) (rate(milvus_querynode_sq_queue_latency_bucket[10m])))'
    with PrometheusServer(tsdb) as prom:
        assert prom.url.startswith("http://127.0.0.1:")
        [now] = _query(prom.url, p99, T0)
        [before] = _query(prom.url, p99, T0 - 86400)
        assert float(now["value"][1]) == pytest.approx(448.0, rel=1e-9)
        assert float(before["value"][1]) == pytest.approx(31.84, rel=1e-9)
        [qps] = _query(prom.url, "rate(milvus_proxy_req_count[10m])", T0)
        assert float(qps["value"][1]) == pytest.approx(12.5)
        [raw] = _query(prom.url, 'milvus_proxy_req_count{status="success"}', T0)
        assert raw["metric"]["__name__"] == "milvus_proxy_req_count"  # no _total added
        # Restartable on the same port.
        prom.stop()
        assert not prom.running
        prom.start()
        assert _query(prom.url, "vector(1)", T0)[0]["value"][1] == "1"
    assert not prom.running


def test_bad_openmetrics_gives_promtool_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.om"
    bad.write_text("this is not openmetrics\n")
    with pytest.raises(PromlabError, match=r"promtool create-blocks-from openmetrics .* failed"):
        create_blocks(bad, tmp_path / "tsdb")


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import bot.promlab.tsdb as tsdb_mod

    monkeypatch.setattr(tsdb_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(tsdb_mod, "Path", lambda p: tmp_path / "nowhere" / Path(p).name)
    with pytest.raises(PromlabError, match=r"prometheus not found: .*apt-get install prometheus"):
        PrometheusServer(tmp_path / "tsdb")


def test_scrape_targets(tmp_path: Path) -> None:
    # A server that scrapes itself: the same path another helper uses to scrape a real Milvus.
    from bot.promlab import free_port

    port = free_port()
    prom = PrometheusServer(tmp_path / "tsdb", port=port, scrape_interval="1s",
                            scrape_configs=[scrape_job("self", [f"127.0.0.1:{port}"], {"cluster": "lab"}, "1s")])
    with prom:
        deadline = time.monotonic() + 20
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not result:
            result = _query(prom.url, 'up{job="self", cluster="lab"} == 1', time.time())
            time.sleep(0.3)
        assert result and result[0]["metric"]["instance"] == f"127.0.0.1:{port}"
