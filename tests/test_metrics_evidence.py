"""`milvus-triage evidence` against the real Prometheus scenario (only `prometheus` configured)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.fixtures.prometheus import END, MilvusScenario


@pytest.fixture
def config_file(tmp_path: Path, milvus_prom: MilvusScenario) -> str:
    p = tmp_path / "clusters.yaml"
    p.write_text(yaml.safe_dump({"clusters": [
        {"name": "c25", "prometheus": {"url": milvus_prom.url, "matchers": {"cluster": "c25"}}},
    ]}))
    return str(p)


def test_text_output(config_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", config_file, "evidence", "c25", "--window", "30m", "--at", END.isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Evidence for c25: 2026-11-24 14:30–15:00 UTC (30m)")
    assert "Milvus version: v2.5.4" in out
    queue = next(line for line in out.splitlines() if line.strip().startswith("queue_p99 "))
    assert "448 ms" in queue and "was        32 ms (14x)" in queue
    unavailable = out.split("Signals not available:")[1]
    assert "read_tasks_unsolved_max" in unavailable and "no data" in unavailable


def test_json_output(config_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", config_file, "evidence", "c25", "--at", END.isoformat(), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cluster"] == "c25" and data["milvus_version"] == "v2.5.4"
    q = data["signals"]["queue_p99"]
    assert q["value"] == pytest.approx(448.0, rel=1e-6) and q["baseline"] == pytest.approx(31.84, rel=1e-6)
    assert q["unit"] == "ms" and q["variant"] == "all" and len(q["series"]) > 100
    assert data["signals"]["vector_search_p99"]["variant"] == "2.5+"
    assert not any(m["source"] == "metrics" for m in data["missing"])


def test_unknown_cluster_exits_2(config_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", config_file, "evidence", "c52"]) == 2
    err = capsys.readouterr().err
    assert "unknown cluster 'c52'. Did you mean 'c25'? Known clusters: c25" in err


def test_bad_window_exits_2(config_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", config_file, "evidence", "c25", "--window", "soon"]) == 2
    assert "cannot read window 'soon'" in capsys.readouterr().err
