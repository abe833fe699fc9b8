"""collect_signals against a real Prometheus (promtool-written TSDB, see tests/fixtures/prometheus.py).

Expected values come from the generated observations through Prometheus's bucket interpolation
(bot.promlab.expected_quantile), e.g. queue p99: 40 of 1000 searches at 450 ms, the rest at 20 ms
-> rank 990 lies 30/40 into the (256, 512] bucket -> 448 ms; a day earlier all at 20 ms -> 31.84 ms.
"""

from __future__ import annotations

import time

import pytest

from bot.evidence.metrics import collect_signals, series_step
from bot.evidence.signals import load_signals
from bot.models import TimeWindow
from tests.fixtures.prometheus import (
    INJECTION,
    WEIRD_CLUSTER,
    WINDOW,
    MilvusScenario,
    cluster_config,
)

REL = 1e-6  # floating error only: the expected values follow the same interpolation exactly


@pytest.fixture(scope="module")
def c23(milvus_prom: MilvusScenario):
    return collect_signals(cluster_config("c23", milvus_prom.url), WINDOW, None)


@pytest.fixture(scope="module")
def c25(milvus_prom: MilvusScenario):
    return collect_signals(cluster_config("c25", milvus_prom.url), WINDOW, None)


def test_every_catalogue_signal_is_returned(c23) -> None:
    signals, missing = c23
    assert set(signals) == set(load_signals())
    assert missing == []
    for name, sv in signals.items():
        assert sv.name == name
        assert (sv.value is None) == (sv.unavailable is not None), name
        if sv.unavailable:
            assert sv.unavailable.startswith("unavailable: "), name


@pytest.mark.parametrize("cluster", ["c23", "c25"])
def test_known_values_and_baselines(cluster: str, c23, c25, milvus_prom: MilvusScenario) -> None:
    signals, _ = c23 if cluster == "c23" else c25
    for name, want in milvus_prom.expected[cluster].items():
        if "@" in name:
            continue
        assert signals[name].value == pytest.approx(want, rel=REL), name
    for name, want in milvus_prom.expected_baseline[cluster].items():
        assert signals[name].baseline == pytest.approx(want, rel=REL, abs=1e-9), name


def test_queue_p99_window_vs_day_before(c23) -> None:
    q = c23[0]["queue_p99"]
    # Stated tolerance: 448 ms by bucket interpolation (the observations were 450 ms; buckets are powers of two).
    assert q.value == pytest.approx(448.0, abs=0.5)
    assert q.baseline == pytest.approx(31.84, abs=0.01)
    assert q.unit == "ms"
    assert q.ratio_to_baseline == pytest.approx(448.0 / 31.84, rel=1e-3)
    assert "milvus_querynode_sq_queue_latency_bucket" in q.query and '{cluster="c23", query_type="search"}' in q.query
    assert "[30m]" in q.query


def test_latency_signals_carry_series_on_both_windows(c23) -> None:
    q = c23[0]["queue_p99"]
    step = series_step(WINDOW.seconds)
    assert len(q.series) == int(WINDOW.seconds / step) + 1
    assert q.series[0][0] == WINDOW.start.timestamp() and q.series[-1][0] == WINDOW.end.timestamp()
    # baseline_series is shifted forward one day, onto the same time axis as series.
    assert [t for t, _ in q.baseline_series] == [t for t, _ in q.series]
    assert q.series[-1][1] == pytest.approx(448.0, rel=REL)
    assert q.baseline_series[-1][1] == pytest.approx(31.84, rel=REL)
    ready = c23[0]["read_tasks_ready_max"]  # a 3-task spike at END-10m appears in the series only around it
    assert max(v for _, v in ready.series) == 3.0 and min(v for _, v in ready.series) == 0.0


def test_by_breakdown(c23) -> None:
    seg = c23[0]["segment_p99"]
    assert set(seg.by) == {"Sealed", "Growing"}
    assert seg.by["Sealed"] == pytest.approx(7.96, rel=REL)
    assert seg.value == seg.by["Growing"] == pytest.approx(127.36, rel=REL)
    sealed = c23[0]["segments_sealed"]
    assert sealed.by == {"101": 7.0, "102": 3.0}
    assert c23[0]["segments_unindexed_sealed"].by == {"102": 2.0}


def test_fallbacks_differ_between_23_and_25_clusters(c23, c25, milvus_prom: MilvusScenario) -> None:
    s23, s25 = c23[0], c25[0]
    assert s23["vector_search_p99"].variant == "2.3"
    assert "knowhere_search_latency_bucket" in s23["vector_search_p99"].query
    assert s25["vector_search_p99"].variant == "2.5+"
    assert "internal_core_search_latency_bucket" in s25["vector_search_p99"].query
    assert s23["core_to_vector_ratio"].variant == "2.3" and s25["core_to_vector_ratio"].variant == "2.5+"
    assert s23["core_to_vector_ratio"].value == pytest.approx(milvus_prom.expected["c23"]["core_to_vector_ratio"])
    # Version gates: build info and the slow-query counter exist only on the 2.5 cluster.
    assert s25["build_version"].value == 1 and s25["build_version"].variant == "v2.5.4"
    assert s23["build_version"].value is None and "no data" in s23["build_version"].unavailable
    assert s25["slow_query_count"].value == pytest.approx(18.0, rel=1e-6)
    assert s23["slow_query_count"].value is None
    assert s25["scalar_filter_p99"].value == pytest.approx(milvus_prom.expected["c25"]["scalar_filter_p99"])


def test_missing_series_is_unavailable_with_reason(c23) -> None:
    sv = c23[0]["scalar_filter_p99"]
    assert sv.value is None and sv.baseline is None
    assert sv.unavailable == "unavailable: no data (no matching series for: 2.5+)"
    assert sv.query and "internal_core_search_latency_bucket" in sv.query
    assert sv.series == []


def test_zero_variant_when_cluster_is_scraped_but_counter_not_created(c23) -> None:
    flush = c23[0]["flush_rate"]
    assert flush.value == 0.0 and flush.variant == "none (no flush calls)"


@pytest.mark.parametrize(("cluster", "variant"), [("c25", "2.4+ collection"), ("c23", "2.3 collection")])
def test_collection_variants(milvus_prom: MilvusScenario, cluster: str, variant: str) -> None:
    signals, missing = collect_signals(cluster_config(cluster, milvus_prom.url), WINDOW, "books",
                                       names=["proxy_search_p99", "queue_p99"])
    p99 = signals["proxy_search_p99"]
    assert p99.variant == variant
    assert p99.value == pytest.approx(milvus_prom.expected[cluster]["proxy_search_p99@books"], rel=REL)
    assert 'collection_name="books"' in p99.query
    assert signals["queue_p99"].variant == "all"  # query node metrics have no collection name
    assert missing == []


def test_without_collection_the_collection_variants_are_skipped(c25, milvus_prom: MilvusScenario) -> None:
    p99 = c25[0]["proxy_search_p99"]
    assert p99.variant == "all" and "collection_name" not in p99.query
    assert p99.value == pytest.approx(milvus_prom.expected["c25"]["proxy_search_p99"], rel=REL)


def test_label_value_with_quote_backslash_newline(milvus_prom: MilvusScenario) -> None:
    cfg = cluster_config("weird", milvus_prom.url, matchers={"cluster": WEIRD_CLUSTER})
    signals, missing = collect_signals(cfg, WINDOW, None, names=["queue_p99", "search_qps"])
    assert signals["queue_p99"].value == pytest.approx(milvus_prom.expected["weird"]["queue_p99"], rel=REL)
    assert r'cluster="we\"ird\\clu\nster"' in signals["queue_p99"].query
    assert signals["search_qps"].value is None  # that cluster has no such series: no leak from others
    assert missing == []


def test_injection_attempt_does_not_change_the_query(milvus_prom: MilvusScenario) -> None:
    cfg = cluster_config("evil", milvus_prom.url, matchers={"cluster": INJECTION})
    signals, missing = collect_signals(cfg, WINDOW, 'books"} or vector(7) or x{a="',
                                       names=["queue_p99", "search_qps", "proxy_search_p99"])
    # Unescaped, `or vector(42)` would have produced 42; escaped, it is one odd label value matching nothing.
    for sv in signals.values():
        assert sv.value is None and sv.unavailable.startswith("unavailable: no data"), sv.name
    assert missing == []


def test_no_prometheus_configured() -> None:
    cfg = cluster_config("c23", "http://127.0.0.1:1").model_copy(update={"prometheus": None})
    signals, missing = collect_signals(cfg, WINDOW, None)
    assert len(missing) == 1 and missing[0].what == "Prometheus" and "no Prometheus configured" in missing[0].reason
    assert all(sv.value is None and "no Prometheus configured" in sv.unavailable for sv in signals.values())


def test_prometheus_down_from_the_start() -> None:
    from bot.promlab import free_port

    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    signals, missing = collect_signals(cluster_config("c23", url, timeout_s=2), WINDOW, None)
    assert time.monotonic() - started < 10  # bounded: one failed probe, not one per signal
    assert [(m.source, m.what) for m in missing] == [("metrics", "Prometheus")]
    assert url in missing[0].reason
    assert len(signals) == len(load_signals())
    assert all(sv.value is None and "cannot reach Prometheus" in sv.unavailable for sv in signals.values())


def test_prometheus_stopped_mid_run(promlab, milvus_prom: MilvusScenario, loopback_proxy) -> None:
    server = promlab.start(milvus_prom.tsdb)
    proxy = loopback_proxy(server.url, hook=lambda n, q: server.stop() if n == 20 else None)
    signals, missing = collect_signals(cluster_config("c23", proxy.url, timeout_s=5, concurrency=2), WINDOW, None)
    assert not server.running
    assert [(m.source, m.what) for m in missing] == [("metrics", "Prometheus")]
    assert "cannot reach Prometheus" in missing[0].reason
    got = [sv for sv in signals.values() if sv.value is not None]
    lost = [sv for sv in signals.values() if sv.unavailable and "cannot reach Prometheus" in sv.unavailable]
    assert got, "signals answered before the stop keep their values"
    assert lost, "signals after the stop are unavailable"
    assert len(signals) == len(load_signals())


def test_one_stalled_query_times_out_while_the_rest_arrive(milvus_prom: MilvusScenario, loopback_proxy) -> None:
    proxy = loopback_proxy(milvus_prom.url, stall=lambda q: "milvus_querynode_sq_queue_latency_bucket" in q)
    started = time.monotonic()
    signals, missing = collect_signals(cluster_config("c23", proxy.url, timeout_s=1.5), WINDOW, None,
                                       names=["queue_p99", "queue_avg", "core_p99", "search_qps"])
    elapsed = time.monotonic() - started
    assert signals["queue_p99"].value is None
    assert signals["queue_p99"].unavailable == "unavailable: timeout after 1.5s"
    assert "sq_queue_latency_bucket" in signals["queue_p99"].query
    assert signals["queue_avg"].value == pytest.approx(37.2, rel=REL)
    assert signals["core_p99"].value == pytest.approx(milvus_prom.expected["c23"]["core_p99"], rel=REL)
    assert signals["search_qps"].value == pytest.approx(20.0, rel=REL)
    assert [(m.what, m.reason) for m in missing] == [("signal queue_p99", "unavailable: timeout after 1.5s")]
    assert elapsed < 20  # the stall (60 s) did not hold the run; generous bound for a loaded 2-core box


def test_bearer_token_from_env_is_sent(milvus_prom: MilvusScenario, loopback_proxy, monkeypatch) -> None:
    monkeypatch.setenv("PROM_TOKEN_FOR_TEST", "s3cret")
    proxy = loopback_proxy(milvus_prom.url)
    signals, _ = collect_signals(cluster_config("c23", proxy.url, token_env="PROM_TOKEN_FOR_TEST"), WINDOW,
                                 None, names=["queue_avg"])
    assert signals["queue_avg"].value == pytest.approx(37.2, rel=REL)
    assert proxy.seen and all(auth == "Bearer s3cret" for _, auth in proxy.seen)


def test_empty_window_gives_no_observation_reason(milvus_prom: MilvusScenario) -> None:
    # A window a week before the data: the series do not exist there at all.
    early = TimeWindow(start=WINDOW.start.replace(day=10), end=WINDOW.end.replace(day=10))
    signals, missing = collect_signals(cluster_config("c23", milvus_prom.url), early, None, names=["queue_p99"])
    assert signals["queue_p99"].unavailable.startswith("unavailable: no data")
    assert missing == []


def test_histogram_without_observations_says_so(c23) -> None:
    sv = c23[0]["nq_p99"]
    assert sv.value is None
    assert sv.unavailable == "unavailable: no observations in the window (tried: all)"


def test_overall_budget_bounds_a_slow_prometheus(milvus_prom: MilvusScenario, loopback_proxy) -> None:
    # Every latency histogram query stalls; with one worker the budget ends the run, not the stalls.
    proxy = loopback_proxy(milvus_prom.url, stall=lambda q: "_bucket" in q)
    started = time.monotonic()
    signals, missing = collect_signals(cluster_config("c23", proxy.url, timeout_s=1, concurrency=1), WINDOW, None,
                                       names=["queue_p99", "core_p99", "reduce_p99", "queue_avg"], budget_s=2.5)
    assert time.monotonic() - started < 10
    assert signals["queue_p99"].unavailable == "unavailable: timeout after 1s"
    assert any("budget" in (signals[n].unavailable or "") for n in ("reduce_p99", "queue_avg"))
    assert {m.what for m in missing} >= {"signal queue_p99"}
