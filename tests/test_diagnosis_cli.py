"""`milvus-triage slow` and `milvus-triage playbooks lint|test|list`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.playbook.loader import DEFAULT_DIR


def write_config(tmp_path: Path, clusters: list[dict[str, Any]]) -> str:
    p = tmp_path / "clusters.yaml"
    p.write_text(yaml.safe_dump({"clusters": clusters}))
    return str(p)


@pytest.fixture
def cfg(tmp_path: Path) -> str:
    return write_config(tmp_path, [{"name": "prod-eu", "milvus_version": "2.3.5"}, {"name": "staging"}])


def test_slow_unknown_cluster_lists_known_and_suggests(cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "slow", "prod-e"]) == 2
    err = capsys.readouterr().err
    assert "unknown cluster 'prod-e'. Did you mean 'prod-eu'? Known clusters: prod-eu, staging" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["slow", "prod-eu", "--window", "9x"], "cannot read window '9x'"),
    (["slow", "prod-eu", "bad name!"], "'bad name!' is not a valid collection name"),
    (["slow", "prod-eu", "--seen", "soon"], "cannot read --seen 'soon'"),
    (["slow", "prod-eu", "--at", "25:99"], "cannot read time '25:99'"),
])
def test_slow_bad_input_exits_2(cfg: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["--config", cfg, *argv]) == 2
    assert message in capsys.readouterr().err


def test_slow_bad_threshold_override_names_the_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, [{"name": "prod-eu", "thresholds": {"queue_p99_hihg_ms": 5}}])
    assert main(["--config", cfg, "slow", "prod-eu"]) == 2
    err = capsys.readouterr().err
    assert "cluster 'prod-eu'" in err and "unknown threshold 'queue_p99_hihg_ms'" in err


def test_slow_without_sources_says_what_it_could_not_check(cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "slow", "prod-eu", "hs_hnsw", "--window", "15m"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("prod-eu: could not diagnose: no evidence could be gathered")
    assert "prod-eu / hs_hnsw" in out and "(15m)" in out and "Milvus 2.3.5" in out
    assert "could not gather Prometheus (metrics): no Prometheus configured" in out


@pytest.mark.slow
def test_slow_against_a_real_prometheus(milvus_prom: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, [{"name": "c23", "milvus_version": "2.3.5",
                                   "prometheus": {"url": milvus_prom.url, "matchers": {"cluster": "c23"}}}])
    at = milvus_prom.window.end.isoformat()
    assert main(["--config", cfg, "slow", "c23", "--at", at]) == 0
    out = capsys.readouterr().out
    assert out.startswith("c23: inefficient filtering: Filtering dominates search time")
    assert "1. [CRITICAL] Inefficient filtering: Filtering dominates search time" in out
    assert main(["--config", cfg, "slow", "c23", "--at", at, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["findings"][0]["rule_id"] == "filter_cost_core_gap"
    assert data["evidence"]["signals"]["core_p99"]["value"] > 1000
    assert main(["--config", cfg, "slow", "c23", "--at", at, "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("### c23: inefficient filtering:")


# --------------------------------------------------------------------------- playbooks


def test_playbooks_lint_ok(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./clusters.yaml here
    assert main(["playbooks", "lint"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and " rules in 6 files" in out


def test_playbooks_lint_broken_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "pb"
    shutil.copytree(DEFAULT_DIR, d)
    f = d / "rules" / "heavy_workload.yaml"
    f.write_text(f.read_text().replace("{signal: queue_p99, op: \">=\", threshold: queue_p99_high_ms}",
                                       "{signal: queue_p99, op: \"=>\", threshold: queue_p99_high_ms}", 1))
    assert main(["playbooks", "--dir", str(d), "lint"]) == 1
    err = capsys.readouterr().err
    assert "playbooks/rules/heavy_workload.yaml: rule 'large_nq_queueing': when.all[1]: bad operator '=>'" in err


def test_playbooks_lint_checks_cluster_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, [{"name": "prod-eu", "thresholds": {"cpu_busy_core": 12}}])
    assert main(["--config", cfg, "playbooks", "lint"]) == 1
    err = capsys.readouterr().err
    assert "cluster 'prod-eu': thresholds: unknown threshold 'cpu_busy_core' (did you mean 'cpu_busy_cores'?)" in err


def test_playbooks_test_passes_and_fails_with_a_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbooks", "test", "-q"]) == 0
    assert " passed, 0 failed" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"tests": [{"name": "wrong expectation", "version": "2.3.5",
                                              "signals": {"wait_tsafe_p99": 1400},
                                              "expect": {"fired": ["healthy"], "only": True}}]}))
    assert main(["playbooks", "test", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "wrong expectation" in out
    assert "- healthy" in out and "+ strong_consistency_tsafe" in out
    assert "0 passed, 1 failed" in out


def test_playbooks_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["playbooks", "list"]) == 0
    out = capsys.readouterr().out
    assert "large_nq_queueing" in out and "heavy_workload" in out and "flat_large_collection" in out
