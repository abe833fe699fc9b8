"""manifest.yaml, Procfile, `serve` argument parsing and the `clusters` CLI (dead Prometheus)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser, main
from tests.slack_support.botserver import DEAD_PROMETHEUS

ROOT = Path(__file__).resolve().parent.parent


def test_manifest_asks_for_the_least_scopes_and_the_events_the_bot_handles() -> None:
    m = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    assert set(m["oauth_config"]["scopes"]["bot"]) == {
        "commands", "chat:write", "files:write", "app_mentions:read", "channels:history", "groups:history"}
    assert m["features"]["slash_commands"][0]["command"] == "/milvus"
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups"}
    assert m["settings"]["interactivity"]["is_enabled"] is True
    urls = {m["features"]["slash_commands"][0]["url"], m["settings"]["event_subscriptions"]["request_url"],
            m["settings"]["interactivity"]["request_url"]}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")


def test_procfile_runs_http_on_port_and_socket_mode() -> None:
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert lines["web"] == "milvus-triage serve http --port $PORT"
    assert lines["worker"] == "milvus-triage serve socket"
    args = build_parser().parse_args(["serve", "http", "--port", "8080"])
    assert (args.mode, args.port) == ("http", 8080)
    assert build_parser().parse_args(["serve", "socket"]).mode == "socket"


def test_serve_without_tokens_says_which_variable_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "clusters.yaml"
    cfg.write_text(yaml.safe_dump({"clusters": [{"name": "prod-eu"}]}))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["--config", str(cfg), "serve", "socket"]) == 2
    assert "SLACK_BOT_TOKEN is not set" in capsys.readouterr().err


def test_clusters_cli_reports_each_cluster_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "clusters.yaml"
    cfg.write_text(yaml.safe_dump({"clusters": [
        {"name": "prod-eu", "prometheus": {"url": DEAD_PROMETHEUS}, "milvus": {"uri": "http://127.0.0.1:9"}},
        {"name": "lite", "milvus": {"uri": str(tmp_path / "missing.db")}},
    ]}))
    code = main(["--config", str(cfg), "clusters"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1  # a configured Prometheus did not answer
    assert out[0].startswith("prod-eu: p99 n/a · Prometheus unreachable")
    assert "Milvus unreachable" in out[0]
    assert out[1] == "lite: p99 n/a · Prometheus not configured · Milvus Lite file missing"
