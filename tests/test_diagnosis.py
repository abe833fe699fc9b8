"""bot.diagnosis.diagnose: the one pipeline function (CLI and Slack call it)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import AppConfig, ClusterConfig, UnknownClusterError
from bot.diagnosis import diagnose, run_diagnosis
from bot.models import Evidence, TriageRequest
from bot.playbook import PlaybookError, load_playbooks
from bot.playbook.fixture import build_evidence, window_of

PB = load_playbooks()

HEAVY: dict[str, Any] = {
    "version": "2.3.5",
    "signals": {"nq_per_request": {"value": 2400, "baseline": 1}, "queue_p99": {"value": 3900, "baseline": 1},
                "core_p99": 7000, "vector_search_p99": 6500, "core_to_vector_ratio": 1.1,
                "proxy_search_p99": {"value": 9000, "baseline": 8}, "wait_tsafe_p99": 110},
    "slowlog": {"threshold_s": 5, "requests": [{"collection": "hs", "nq": 8192, "duration": "9.5s"}]},
}


def _evidence(spec: dict[str, Any]) -> Evidence:
    return build_evidence(spec, PB.signals, PB.signal_titles)


def _request(cluster: str = "test", **kw: Any) -> TriageRequest:
    return TriageRequest(cluster=cluster, window=window_of({}), **kw)


def _config(**cluster: Any) -> AppConfig:
    return AppConfig(clusters=[ClusterConfig(name="test", **cluster), ClusterConfig(name="prod-eu")])


def test_ranked_by_severity_then_strength_with_verdict_and_top_cause() -> None:
    d = diagnose(_request(), _config(), evidence=_evidence(HEAVY))
    ids = [f.rule_id for f in d.findings]
    # both critical; the queue at 39x its threshold is stronger evidence than tSafe barely over its own
    assert ids[:2] == ["large_nq_queueing", "strong_consistency_tsafe"]
    assert d.findings[0].strength > d.findings[1].strength
    assert ids[-1] == "latency_vs_baseline"  # a symptom ranks after the causes of its severity
    sev = [f.severity for f in d.findings]
    assert sev == sorted(sev, key=["critical", "warning", "info"].index)
    assert d.top_cause == "heavy_workload"
    assert d.verdict.startswith("test: heavy workload: Large-NQ searches fill the read slots")
    assert d.verdict.endswith(f"(+{len(d.findings) - 1} more findings)")
    assert not d.is_healthy


def test_healthy_verdict() -> None:
    spec = {"version": "2.3.5", "slowlog": {"threshold_s": 5},
            "signals": {"proxy_search_p99": {"value": 8, "baseline": 8}, "search_fail_ratio": 0}}
    d = diagnose(_request(), _config(), evidence=_evidence(spec))
    assert [f.rule_id for f in d.findings] == ["healthy"]
    assert d.verdict == "test looks healthy: " + d.findings[0].summary
    assert d.top_cause == "healthy" and d.is_healthy


def test_symptom_only_names_no_cause() -> None:
    spec = {"version": "2.4.4", "signals": {"proxy_search_p99": {"value": 450, "baseline": 38}}}
    d = diagnose(_request(), _config(), evidence=_evidence(spec))
    assert [f.rule_id for f in d.findings] == ["latency_vs_baseline"]
    assert d.top_cause is None
    assert "no cause found in the evidence" in d.verdict


def test_cluster_threshold_overrides_change_the_result() -> None:
    default = diagnose(_request(), _config(), evidence=_evidence(HEAVY))
    assert "strong_consistency_tsafe" in [f.rule_id for f in default.findings]
    raised = diagnose(_request(), _config(thresholds={"wait_tsafe_p99_ms": 200}), evidence=_evidence(HEAVY))
    assert "strong_consistency_tsafe" not in [f.rule_id for f in raised.findings]


def test_unknown_cluster_suggests_the_closest() -> None:
    with pytest.raises(UnknownClusterError) as exc:
        diagnose(_request("prod-e"), _config(), evidence=_evidence(HEAVY))
    assert "Did you mean 'prod-eu'?" in str(exc.value) and "Known clusters: test, prod-eu" in str(exc.value)


def test_unknown_threshold_override_fails_before_any_source_is_queried(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.evidence

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("evidence must not be gathered")

    monkeypatch.setattr(bot.evidence, "gather_evidence", boom)
    with pytest.raises(PlaybookError) as exc:
        diagnose(_request(), _config(thresholds={"queue_p99_hi_ms": 5}))
    assert "cluster 'test'" in str(exc.value) and "unknown threshold 'queue_p99_hi_ms'" in str(exc.value)


def test_gathers_evidence_itself_and_reports_what_it_could_not() -> None:
    """No evidence given: the real gather_evidence runs; a cluster with no sources yields reasons, not a crash."""
    d = diagnose(_request(), _config(milvus_version="2.3.5"))
    assert d.findings == []
    assert d.verdict == "test: could not diagnose: no evidence could be gathered"
    lines = "\n".join(d.not_checked)
    for source in ("(metrics)", "(slowlog)", "(milvus)"):
        assert "could not gather" in lines and source in lines
    # the reason is said once, on its source's line, with every cause it kept from being checked
    metrics = next(n for n in d.not_checked if n.startswith("could not gather Prometheus (metrics)"))
    assert "so could not check" in metrics and "healthy (proxy_search_p99)" in metrics
    assert not [n for n in d.not_checked if n.startswith("could not check") and "Prometheus" in n]
    assert d.evidence.milvus_version == "2.3.5"  # from the config, as the last resort


def test_template_errors_do_not_cost_the_reply(tmp_path: Any) -> None:
    import shutil

    from bot.playbook.loader import DEFAULT_DIR

    d = tmp_path / "pb"
    shutil.copytree(DEFAULT_DIR, d)
    rules = d / "rules" / "heavy_workload.yaml"
    # Valid at load (names exist) but fails at render: a division by zero on real data.
    rules.write_text(rules.read_text().replace(
        "title: Large-NQ searches fill the read slots and everything else queues behind them",
        "title: \"{{ 1 / (signals.queue_p99.value - signals.queue_p99.value) }}\"", 1))
    pb = load_playbooks(d)
    run = run_diagnosis(_request(), _config(), evidence=_evidence(HEAVY), playbooks=pb)
    assert "large_nq_queueing" not in [f.rule_id for f in run.diagnosis.findings]
    assert any("rule large_nq_queueing (playbooks/rules/heavy_workload.yaml) could not be rendered: ZeroDivisionError"
               in n for n in run.diagnosis.not_checked)
    assert "strong_consistency_tsafe" in [f.rule_id for f in run.diagnosis.findings]


# --------------------------------------------------------------------------- against a real Prometheus


@pytest.mark.slow
def test_real_prometheus_2_3_filter_signature(milvus_prom: Any, make_cluster: Any) -> None:
    """c23 in the shared scenario: segcore p99 ~3 s against knowhere ~150 ms, no milvus_build_info."""
    cluster = make_cluster("c23", milvus_prom.url).model_copy(update={"milvus_version": "2.3.5"})
    config = AppConfig(clusters=[cluster])
    request = TriageRequest(cluster="c23", window=milvus_prom.window)
    d = diagnose(request, config)
    ids = [f.rule_id for f in d.findings]
    assert ids[0] == "filter_cost_core_gap", ids
    assert "high_qps_queueing" not in ids  # the queue is explained by the filter cost
    exp = milvus_prom.expected["c23"]
    assert d.evidence.signals["core_to_vector_ratio"].value == pytest.approx(exp["core_to_vector_ratio"], rel=0.05)
    assert f"{exp['core_to_vector_ratio']:.0f}x the vector-search p99" in d.findings[0].summary
    assert "cold_cache_after_restart" in ids  # one restart 10 minutes before the end, p99 ~300 ms
    assert d.top_cause == "inefficient_filtering"


@pytest.mark.slow
def test_real_prometheus_2_5_uses_the_scalar_filter_metric(milvus_prom: Any, make_cluster: Any) -> None:
    config = AppConfig(clusters=[make_cluster("c25", milvus_prom.url)])
    d = diagnose(TriageRequest(cluster="c25", window=milvus_prom.window), config)
    ids = [f.rule_id for f in d.findings]
    assert d.evidence.milvus_version == "v2.5.4"  # from milvus_build_info
    assert ids[0] == "filter_cost_scalar", ids
    assert "filter_cost_core_gap" not in ids  # its group alternative fired
    assert "Scalar filter p99" in d.findings[0].summary


def test_no_healthy_line_for_a_scope_with_nothing_in_it() -> None:
    """Milvus answered but described no collection: the collection rules checked nothing."""
    spec = {"version": "2.3.5", "signals": {"proxy_search_p99": 8, "disk_io_util": 0.1},
            "milvus": {"server_version": "v2.3.5", "collections": []}}
    d = diagnose(_request(), _config(), evidence=_evidence(spec))
    assert not [h for h in d.healthy if h.startswith(("Vector indexes", "Disk I/O"))]
    spec["milvus"] = {"server_version": "v2.3.5", "collections": [
        {"name": "c", "row_count": 10, "load_state": "Loaded", "mmap_enabled": False,
         "fields": [{"name": "v", "data_type": "FLOAT_VECTOR", "is_vector": True,
                     "index": {"field_name": "v", "index_type": "HNSW"}}]}]}
    d = diagnose(_request(), _config(), evidence=_evidence(spec))
    assert "Vector indexes: c HNSW" in d.healthy and "Disk I/O: busy 10%" in d.healthy
