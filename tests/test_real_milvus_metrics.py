"""The real Milvus 2.3.5 server scraped by the real Prometheus, read back by bot.evidence.metrics.

Milvus (tests/support/real_milvus.py) serves /metrics; bot.promlab.PrometheusServer scrapes it every
second; a few rounds of searches run between scrapes (rate() ignores a series' first sample, and
2.3.5 creates its histogram series on the first search). Then collect_signals must return values
for the signals 2.3.5 exports and report the version-gated ones (2.4+/2.5+ metrics, and
milvus_build_info, which 2.3.5 does not export) as unavailable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ClusterConfig
from bot.evidence.metrics import collect_signals
from bot.evidence.milvus import collect_milvus
from bot.models import SignalValue, TimeWindow
from bot.promlab import PrometheusServer, scrape_job
from tests.fixtures.milvus import wait_until
from tests.support.real_milvus import RealMilvus

pytestmark = pytest.mark.slow

COLLECTION = "met_hnsw"
DIM = 32
ROWS = 3000
NAMESPACE = "triage-metrics-test"
ROUNDS, SEARCHES_PER_ROUND = 3, 15
AVAILABLE = ("proxy_search_p99", "queue_p99", "core_p99", "segment_p99", "vector_search_p99",
             "segments_sealed", "cpu_cores", "memory_bytes")
GATED = ("slow_query_count", "scalar_filter_p99", "build_version")


@dataclass
class Scraped:
    prom_url: str
    window: TimeWindow
    searches: int
    timings: dict[str, float]


def _make_collection(uri: str) -> None:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(uri=uri, timeout=60)
    try:
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("lang", DataType.VARCHAR, max_length=16)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        params = client.prepare_index_params()
        params.add_index("vec", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
        client.create_collection(COLLECTION, schema=schema, index_params=params, consistency_level="Bounded")
        rng = random.Random(5)
        client.insert(COLLECTION, [{"id": i, "lang": ("go", "py", "rs")[i % 3],
                                    "vec": [rng.random() for _ in range(DIM)]} for i in range(ROWS)])
        client.flush(COLLECTION)
        assert wait_until(lambda: (client.describe_index(COLLECTION, "vec") or {}).get("pending_index_rows") == 0
                          and client.describe_index(COLLECTION, "vec")["indexed_rows"] == ROWS, 60)
        client.release_collection(COLLECTION)  # reload so the sealed segment loads with its HNSW index
        client.load_collection(COLLECTION)
    finally:
        client.close()


def _search_rounds(uri: str) -> int:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri, timeout=30)
    rng = random.Random(9)
    done = 0
    try:
        for r in range(ROUNDS):
            for i in range(SEARCHES_PER_ROUND):
                nq = 1 + (i % 4)
                client.search(COLLECTION, data=[[rng.random() for _ in range(DIM)] for _ in range(nq)], limit=10,
                              filter='lang == "go"' if i % 2 else "", search_params={"params": {"ef": 32}})
                done += 1
            if r < ROUNDS - 1:
                time.sleep(2.2)  # at least two 1 s scrapes between rounds
    finally:
        client.close()
    return done


def _prom_value(prom_url: str, query: str) -> float:
    import requests

    r = requests.get(f"{prom_url}/api/v1/query", params={"query": query}, timeout=5)
    result = r.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture(scope="module")
def scraped(real_milvus_server: RealMilvus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    _make_collection(real_milvus_server.uri)
    timings["collection"] = time.monotonic() - t0
    tsdb = Path(tmp_path_factory.mktemp("prom-real-milvus")) / "tsdb"
    job = scrape_job("milvus", [real_milvus_server.metrics_target], {"namespace": NAMESPACE}, interval="1s")
    prom = PrometheusServer(tsdb, scrape_configs=[job], scrape_interval="1s")
    with prom:
        started = datetime.now(UTC)
        t1 = time.monotonic()
        time.sleep(2.2)  # first scrapes: the series that already exist get a sample before the searches
        searches = _search_rounds(real_milvus_server.uri)
        # Wait until Prometheus has scraped the last search, then one more scrape for rate().
        counted = f'sum(milvus_proxy_sq_latency_count{{namespace="{NAMESPACE}", query_type="search"}})'
        assert wait_until(lambda: _prom_value(prom.url, counted) >= searches, 20), prom.log_tail()
        time.sleep(1.5)
        timings["searches+scrapes"] = time.monotonic() - t1
        print(f"real-milvus metrics timings (s): {timings}")  # shown with -s; recorded in docs/notes
        end = datetime.now(UTC)
        # A whole-minute window that covers everything since Prometheus started.
        minutes = max(1, int((end - started).total_seconds() // 60) + 1)
        yield Scraped(prom_url=prom.url, window=TimeWindow(start=end - timedelta(minutes=minutes), end=end),
                      searches=searches, timings=timings)


def _cluster(scr: Scraped, server: RealMilvus) -> ClusterConfig:
    return ClusterConfig(name="real-235", prometheus={"url": scr.prom_url, "matchers": {"namespace": NAMESPACE}},
                         milvus={"uri": server.uri, "timeout_s": 10})


def _signals(scr: Scraped, server: RealMilvus, collection: str | None) -> dict[str, SignalValue]:
    signals, missing = collect_signals(_cluster(scr, server), scr.window, collection, names=[*AVAILABLE, *GATED])
    assert [m for m in missing if m.what == "Prometheus"] == []
    return signals


def test_signals_2_3_5_exports_have_values(scraped: Scraped, real_milvus_server: RealMilvus) -> None:
    s = _signals(scraped, real_milvus_server, None)
    for name in AVAILABLE:
        assert s[name].value is not None, f"{name}: {s[name].unavailable}"
    for name in ("proxy_search_p99", "queue_p99", "core_p99", "vector_search_p99"):
        assert s[name].value > 0, name  # type: ignore[operator]
    assert s["proxy_search_p99"].variant == "all"
    assert s["vector_search_p99"].variant == "2.3"  # knowhere_search_latency (HNSW; FLAT would have none)
    assert s["proxy_search_p99"].value >= s["core_p99"].value / 4  # type: ignore[operator]  # same order
    assert s["cpu_cores"].value > 0  # type: ignore[operator]
    assert s["memory_bytes"].value > 50e6  # type: ignore[operator]  # a real process, not a stub


def test_segments_sealed_agrees_with_pymilvus(scraped: Scraped, real_milvus_server: RealMilvus) -> None:
    s = _signals(scraped, real_milvus_server, None)
    ev, _ = collect_milvus(_cluster(scraped, real_milvus_server), COLLECTION)
    assert ev is not None
    facts = ev.collection(COLLECTION)
    assert facts is not None and facts.segments is not None and facts.collection_id
    by = s["segments_sealed"].by
    assert by[str(facts.collection_id)] == facts.segments.sealed  # metric (by collection_id) == pymilvus
    assert s["segments_sealed"].value == sum(by.values())


def test_version_gate_on_2_3_5(scraped: Scraped, real_milvus_server: RealMilvus) -> None:
    s = _signals(scraped, real_milvus_server, None)
    for name in GATED:
        assert s[name].value is None, f"{name} should be unavailable on 2.3.5, got {s[name].value}"
        assert s[name].unavailable and s[name].unavailable.startswith("unavailable")
    # milvus_build_info is absent, so the bot's version must come from pymilvus instead.
    assert _prom_value(scraped.prom_url, f'count(milvus_build_info{{namespace="{NAMESPACE}"}})') == 0
    assert _prom_value(scraped.prom_url, f'count(milvus_proxy_sq_latency_bucket{{namespace="{NAMESPACE}"}})') > 0


def test_collection_variant_on_2_3_5(scraped: Scraped, real_milvus_server: RealMilvus) -> None:
    s = _signals(scraped, real_milvus_server, COLLECTION)
    p99 = s["proxy_search_p99"]
    assert p99.value is not None and p99.value > 0
    assert p99.variant == "2.3 collection"  # milvus_proxy_collection_sq_latency{collection_name=...}
    assert p99.query is not None and f'collection_name="{COLLECTION}"' in p99.query
