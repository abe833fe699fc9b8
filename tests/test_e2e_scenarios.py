"""End to end through the CLI: every demo scenario, in one real Prometheus (promtool blocks), log
files and a running Milvus Lite, diagnosed by `milvus-triage slow <cluster> --format json`.

Each scenario must fire the rule ids its YAML expects (demo/scenarios/*.yaml `expect`); the healthy
one fires nothing but the healthy rule. The environment is built once per session (~40 s on 2 cores).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.cli import main
from bot.demo import DemoEnvironment, build_environment, check_expectations, load_scenarios
from bot.demo.run import quiet_libraries
from bot.demo.scenario import Scenario

pytestmark = pytest.mark.slow
SCENARIOS = load_scenarios()


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    quiet_libraries()
    env = build_environment(SCENARIOS, tmp_path_factory.mktemp("demo"))
    yield env
    env.close()


def slow_cli(env: DemoEnvironment, sc: Scenario, capsys: pytest.CaptureFixture[str]) -> dict:
    argv = ["--config", str(env.config_path), "slow", sc.cluster]
    if sc.collection:
        argv.append(sc.collection)
    argv += ["--format", "json", "--window", f"{sc.window_minutes}m", "--at", env.end.isoformat()]
    if sc.request.reported_latency_ms is not None:
        argv += ["--seen", f"{sc.request.reported_latency_ms:g}ms"]
    argv += sc.request.extra_args
    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_fires_expected_rules(demo_env: DemoEnvironment, sc: Scenario,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    d = slow_cli(demo_env, sc, capsys)
    fired = [f["rule_id"] for f in d["findings"]]
    causes = {f["rule_id"]: f["cause"] for f in d["findings"]}
    assert check_expectations(sc, fired, causes) == [], f"{sc.name} fired {fired}"
    # The evidence came from the demo's own sources: its cluster's series and log lines, its database.
    ev = d["evidence"]
    assert ev["cluster"] == sc.cluster
    assert ev["signals"]["proxy_search_p99"]["value"] is not None
    slow = ev.get("slowlog") or {}
    assert slow.get("slow_lines", 0) == sum(e.count for e in sc.slowlog.entries), "yesterday's lines must not count"
    if sc.milvus.collections and sc.collection:
        names = [c["name"] for c in (ev.get("milvus") or {}).get("collections", [])]
        assert sc.collection in names


def test_healthy_scenario_is_healthy(demo_env: DemoEnvironment, capsys: pytest.CaptureFixture[str]) -> None:
    d = slow_cli(demo_env, demo_env.scenario("healthy"), capsys)
    assert [f["cause"] for f in d["findings"]] == ["healthy"]
    assert all(f["severity"] == "info" for f in d["findings"])


def test_clusters_see_only_their_own_series(demo_env: DemoEnvironment, capsys: pytest.CaptureFixture[str]) -> None:
    """All scenarios share one Prometheus: the matchers must keep heavy NQ out of the healthy cluster."""
    heavy = slow_cli(demo_env, demo_env.scenario("heavy_nq_queue"), capsys)["evidence"]["signals"]
    healthy = slow_cli(demo_env, demo_env.scenario("healthy"), capsys)["evidence"]["signals"]
    assert heavy["nq_per_request"]["value"] > 500
    assert healthy["nq_per_request"]["value"] == pytest.approx(1.0)
    # real-milvus-2.3.5.md: queue avg 669 ms / p99 3.9 s under 4 concurrent nq=8192; <= 1 ms healthy.
    assert 500 < heavy["queue_avg"]["value"] < 900
    assert 3000 < heavy["queue_p99"]["value"] < 5000
    assert healthy["queue_p99"]["value"] <= 1.0
