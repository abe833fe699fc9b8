"""The demo's data and generator, without servers: scenario files, log lines, metric shapes, the CLI
without Prometheus installed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.demo import load_scenarios
from bot.demo.metrics import write_metrics
from bot.demo.scenario import ScenarioError, load_base, load_scenario
from bot.demo.slowlog import plan_events, threshold, write_log
from bot.promlab import OpenMetricsWriter, TimeRange, expected_quantile
from bot.slowlog.parser import parse_slow_line

RULES_DIR = Path(__file__).resolve().parents[1] / "playbooks" / "rules"
END = 1_795_000_000.0  # a multiple of 15 s
SCENARIOS = load_scenarios()


def rule_ids() -> set[str]:
    ids: set[str] = set()
    for p in RULES_DIR.glob("*.yaml"):
        ids |= {r["id"] for r in (yaml.safe_load(p.read_text()) or {}).get("rules", [])}
    return ids


def test_every_cause_has_a_scenario_and_expectations_name_real_rules() -> None:
    names = {s.name for s in SCENARIOS}
    assert {"healthy", "heavy_nq_queue", "heavy_nq_victims", "high_qps", "or_chain", "unindexed_filter",
            "json_filter", "strong_consistency", "flat_index", "ivf_nprobe", "hnsw_ef", "diskann_io",
            "cold_start", "small_segments", "background_jobs", "baseline_regression", "outside_milvus",
            "version_regression"} <= names
    known = rule_ids()
    for sc in SCENARIOS:
        assert sc.expect.fires or sc.expect.healthy, sc.name
        unknown = set(sc.expect.fires + sc.expect.not_fires) - known
        assert not unknown, f"{sc.name}: unknown rule ids {unknown}"
    # At least one 2.5+/2.6 cluster, and one with JSON logs.
    assert any(s.version_tuple >= (2, 5, 0) for s in SCENARIOS)
    assert any(s.slowlog.format == "json" for s in SCENARIOS)


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"known: .*healthy"):
        load_scenarios(["no_such_scenario"])


def test_scenario_file_errors_name_the_field(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\ncluster: demo-bad\ntitle: x\nmetrics: {window: {qps: fast}}\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: field metrics.window.qps"):
        load_scenario(p)


def test_slow_lines_parse_back_with_the_real_parser(tmp_path: Path) -> None:
    for name in ("heavy_nq_queue", "or_chain", "unindexed_filter", "diskann_io", "json_filter"):
        sc = next(s for s in SCENARIOS if s.name == name)
        path, events = write_log(sc, END, tmp_path / name)
        parsed = [r for line in path.read_text().splitlines() if (r := parse_slow_line(line)) is not None]
        in_window = [r for r in parsed if r.time is not None and r.time.timestamp() > END - 1800]
        assert len(in_window) == len(events) == sum(e.count for e in sc.slowlog.entries)
        lim, per_nq = threshold(sc.version_tuple)
        for r in in_window:
            assert r.collection == sc.slowlog.entries[0].collection or r.collection in {
                e.collection for e in sc.slowlog.entries}
            assert (r.duration_s / (r.nq or 1) if per_nq else r.duration_s) >= lim
            assert r.fmt == sc.slowlog.format
        if name == "or_chain":
            assert all(r.dsl.count('user == "dev') == 120 for r in in_window)
            assert all(r.search_params.get("nprobe") == 16 for r in in_window)
        if name == "unindexed_filter":  # 2.5.13+: durationPerNq and the consistency level are logged
            assert all(r.duration_per_nq_s is not None and r.consistency_level == "Bounded" for r in in_window)
        if name == "heavy_nq_queue":
            assert sorted({r.nq for r in in_window}) == [1, 8192]


def test_slow_entry_below_the_version_threshold_is_refused() -> None:
    sc = next(s for s in SCENARIOS if s.name == "hnsw_ef").model_copy(deep=True)
    sc.slowlog.entries[0].duration_s = (2.0, 3.0)  # 2.3.5 logs only searches of 5 s or more
    with pytest.raises(ScenarioError, match=r"below Milvus 2\.3\.5.s slow-log threshold"):
        plan_events(sc, END)


def _samples(text: str, prefix: str) -> list[tuple[float, float]]:
    out = []
    for line in text.splitlines():
        if line.startswith(prefix):
            *_, value, ts = line.split(" ")
            out.append((float(ts), float(value)))
    return out


def test_metrics_carry_the_cluster_label_and_the_window_shapes() -> None:
    sc = next(s for s in SCENARIOS if s.name == "heavy_nq_queue")
    w = OpenMetricsWriter([TimeRange(END - 86400 - 2400, END - 86400 + 60), TimeRange(END - 2400, END + 60)], 15.0)
    write_metrics(w, sc, load_base(), END)
    text = w.text()
    series = [line for line in text.splitlines() if not line.startswith("#")]
    assert series and all('cluster="demo-heavy-nq-queue"' in line for line in series)
    # 2.3.5 style: no milvus_build_info, knowhere_search_latency, executing_total_nq.
    assert "milvus_build_info" not in text and "knowhere_search_latency_bucket" in text
    peak = max(v for t, v in _samples(text, "milvus_proxy_executing_total_nq{"))
    assert 20_000 <= peak <= 33_000
    # The queue mix gives the measured signature: avg ~669 ms, p99 ~3.9 s.
    mix = sc.metrics.window.queue
    assert 600 < sum(v * wt for v, wt in mix) / sum(wt for _, wt in mix) < 750
    assert 3500 < expected_quantile(0.99, [(v, wt * 1000) for v, wt in mix]) < 4500
    # Counters are integers (error diffusion), and the queue histogram's count grows by qps * 15 s.
    counts = _samples(text, 'milvus_querynode_sq_queue_latency_count{')
    assert all(float(v).is_integer() for _, v in counts)
    window = [(t, v) for t, v in counts if t > END - 1800]
    rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
    assert math.isclose(rate, sc.metrics.window.qps, rel_tol=0.02)


def test_version_styles_follow_the_metric_reference() -> None:
    by_name = {s.name: s for s in SCENARIOS}
    texts = {}
    for name in ("unindexed_filter", "version_regression", "cold_start"):
        w = OpenMetricsWriter([TimeRange(END - 86400 - 2400, END - 86400 + 60), TimeRange(END - 2400, END + 60)])
        write_metrics(w, by_name[name], load_base(), END)
        texts[name] = w.text()
    t25 = texts["unindexed_filter"]
    assert 'internal_core_search_latency_bucket{' in t25 and 'type="scalar_latency"' in t25
    assert 'milvus_build_info{' in t25 and 'version="v2.5.14"' in t25
    assert "knowhere_search_latency" not in t25 and "indexed_field_count" not in t25
    t26 = texts["version_regression"]  # 2.6.17+: ready NQ instead of the unsolved/ready lengths
    assert "milvus_querynode_read_task_ready_nq{" in t26 and "read_task_unsolved_len" not in t26
    assert 'version="v2.6.16"' in t26 and 'version="v2.6.18"' in t26  # upgraded since the baseline
    cold = texts["cold_start"]
    ups = _samples(cold, "up{")
    assert sum(1 for t, v in ups if v == 0 and t > END - 1800) == 2
    starts = {v for t, v in _samples(cold, "process_start_time_seconds{") if t > END - 1800}
    assert len(starts) == 2


def test_demo_without_prometheus_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import bot.demo.run as run

    def missing(name: str) -> str:
        from bot.promlab import PromlabError

        raise PromlabError(f"{name} not found")

    monkeypatch.setattr(run, "find_binary", missing)
    assert main(["demo", "--scenario", "healthy"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install prometheus" in err and "`prometheus` was not found" in err


def test_demo_list_shows_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(s.name in out and s.cluster in out for s in SCENARIOS)
