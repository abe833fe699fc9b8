"""The lead's shared modules: config validation, windows, the value formatter, escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, UnknownClusterError, load_config, parse_config
from bot.escape import markdown_code, slack_code, slack_escape, terminal_escape, truncate
from bot.format import format_value
from bot.timewindow import WindowError, format_duration, make_window, parse_duration, parse_time


def _cfg(**cluster: object) -> dict:
    base = {"name": "prod-eu", "prometheus": {"url": "http://127.0.0.1:9"}}
    base.update(cluster)
    return {"clusters": [base]}


def test_config_error_names_file_cluster_and_field() -> None:
    bad = _cfg(prometheus={"url": "http://x", "matchers": {"bad-label": "v"}})
    with pytest.raises(ConfigError) as e:
        parse_config(bad, source="clusters.yaml")
    msg = str(e.value)
    assert "clusters.yaml" in msg and "cluster 'prod-eu'" in msg and "prometheus.matchers" in msg


def test_config_rejects_unknown_field_and_two_log_sources() -> None:
    with pytest.raises(ConfigError, match="promethues"):
        parse_config(_cfg(promethues={"url": "x"}))
    with pytest.raises(ConfigError, match="only one log source"):
        parse_config(_cfg(logs={"files": "/var/log/*.log", "slow_query_api": "http://p:9091"}))


def test_duplicate_cluster_names_rejected() -> None:
    data = {"clusters": [{"name": "a"}, {"name": "a"}]}
    with pytest.raises(ConfigError, match="appears twice"):
        parse_config(data)


def test_unknown_cluster_lists_known_and_suggests() -> None:
    cfg = parse_config({"clusters": [{"name": "prod-eu"}, {"name": "prod-us"}, {"name": "staging"}]})
    with pytest.raises(UnknownClusterError) as e:
        cfg.cluster("prod-ue")
    assert e.value.suggestion in ("prod-eu", "prod-us")
    assert "Known clusters: prod-eu, prod-us, staging" in str(e.value)


def test_load_config_missing_file_and_bad_yaml(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "c.yaml"
    p.write_text("clusters: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_cluster_name_must_be_simple() -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        parse_config({"clusters": [{"name": "prod eu; drop"}]})


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h30m", 5400), ("45s", 45), ("2d", 172800)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(timedelta(seconds=seconds))).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "-5m", "30 minutes", "8d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(WindowError):
        parse_duration(text)


def test_parse_time_forms() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_time("08:30", now) == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    assert parse_time("13:00", now) == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # future -> yesterday
    assert parse_time("2026-11-20T10:00Z", now) == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert parse_time("1764000000", now).year == 2025
    w = make_window("15m", "2026-11-20T10:00Z")
    assert w.seconds == 900 and w.label == "15m"
    assert w.baseline().end == datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    with pytest.raises(WindowError):
        parse_time("yesterday-ish", now)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(450, "ms", "450 ms"), (3900, "ms", "3.90 s"), (0.5, "ms", "0.50 ms"), (0.025, "ratio", "2.5%"),
     (12000, "per_s", "12,000/s"), (1.75, "cores", "1.75 cores"), (0, "s", "0 s"), (300, "s", "5 min"),
     (None, "ms", "n/a"), (8192, "nq", "NQ 8,192"), (3 * 1024**3, "bytes", "3.0 GiB")],
)
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_escaping_neutralises_slack_controls() -> None:
    hostile = 'tag == "<!channel>" && x == "<@U123>" && y == "a&b" && z == "`x`"'
    out = slack_escape(hostile)
    assert "<!channel>" not in out and "&lt;!channel&gt;" in out and "&amp;" in out
    assert "`" not in slack_code(hostile)
    assert markdown_code("a`b").startswith("``") and "a`b" in markdown_code("a`b")
    assert terminal_escape("ok\x1b[31mred") == "ok\ufffd[31mred"
    assert truncate("x" * 100, 10) == "x" * 9 + "…"


def test_example_config_loads_and_its_overrides_name_real_thresholds() -> None:
    from pathlib import Path

    from bot.playbook import load_playbooks

    cfg = load_config(Path(__file__).resolve().parents[1] / "clusters.example.yaml")
    assert cfg.cluster_names == ["prod-eu", "staging"]
    playbooks = load_playbooks()
    for c in cfg.clusters:
        merged = playbooks.thresholds_for(c.thresholds, cluster=c.name)
        for name, value in c.thresholds.items():
            assert merged[name] == value
