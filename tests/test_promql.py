"""PromQL rendering and the signal catalogue: escaping checked by the real Prometheus parser."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, parse_config
from bot.evidence.promql import PromQLError, check_template, escape_string, matchers_text, render
from bot.evidence.signals import SignalsError, load_signals, parse_signals
from tests.fixtures.prometheus import MilvusScenario

NASTY = [
    'a"b', "back\\slash", "trailing\\", 'quote-then-backslash\\"', "new\nline", "tab\tand\rcr",
    "ünïcødé ✓", "`backtick`", "single'quote", "ctl\x01\x7f", '} or vector(1) or up{a="', "{SEL}", "[RANGE]",
]


def _api(url: str, query: str) -> dict[str, Any]:
    qs = urllib.parse.urlencode({"query": query, "time": "1790000000"})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?{qs}", timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def test_escape_string_examples() -> None:
    assert escape_string('a"b') == '"a\\"b"'
    assert escape_string("a\\b") == '"a\\\\b"'
    assert escape_string("x\ny") == '"x\\ny"'
    assert escape_string("\x01") == '"\\x01"'
    assert escape_string("é") == '"é"'
    with pytest.raises(PromQLError):
        escape_string("\ud800")


@pytest.mark.parametrize("value", NASTY)
def test_escaped_value_round_trips_through_prometheus(milvus_prom: MilvusScenario, value: str) -> None:
    # label_replace sets label v to exactly the decoded string literal: what Prometheus will match.
    answer = _api(milvus_prom.url, f'label_replace(vector(1), "v", {escape_string(value)}, "", "")')
    assert answer["status"] == "success", answer
    [series] = answer["data"]["result"]
    assert series["metric"]["v"] == value


def test_matchers_text_validates_names() -> None:
    assert matchers_text({"namespace": "prod", "app": 'x"y'}) == 'namespace="prod", app="x\\"y"'
    for bad in ("bad-name", "1abc", "__name__", 'a="b"} or up{c'):
        with pytest.raises(PromQLError):
            matchers_text({bad: "v"})


def test_config_rejects_bad_label_names() -> None:
    with pytest.raises(ConfigError, match="not a valid Prometheus label name"):
        parse_config({"clusters": [{"name": "a", "prometheus": {"url": "http://x", "matchers": {"a-b": "c"}}}]})


def test_render_placeholders() -> None:
    t = 'histogram_quantile(0.99, sum by (le) (rate(m_bucket{SEL, query_type="search"}[RANGE]))) / max(n{SEL})'
    assert render(t, {}, 1800) == ('histogram_quantile(0.99, sum by (le) (rate(m_bucket{query_type="search"}[30m])))'
                                   " / max(n{})")
    assert render(t, {"job": "milvus"}, 5400).count('{job="milvus"') == 2
    assert "[1h30m]" in render(t, {"job": "milvus"}, 5400)
    sub = render("max_over_time(sum(g{SEL})[RANGE:RES])", {"a": "b"}, 3600, res_s=15)
    assert sub == 'max_over_time(sum(g{a="b"})[1h:15s])'
    coll = render('rate(m{CSEL, x="y"}[RANGE])', {"a": "b"}, 60, collection='c"1')
    assert coll == 'rate(m{a="b", collection_name="c\\"1", x="y"}[1m])'
    with pytest.raises(PromQLError, match="needs a collection"):
        render("rate(m{CSEL}[RANGE])", {}, 60)


def test_placeholders_inside_template_strings_are_left_alone() -> None:
    out = render('m{SEL, s="SEL [RANGE]"}', {"a": "b"}, 60)
    assert out == 'm{a="b", s="SEL [RANGE]"}'


def test_injected_values_never_become_placeholders() -> None:
    # A matcher value that looks like a placeholder stays a literal string.
    out = render("m{SEL}[RANGE]", {"a": "{SEL} [RANGE]"}, 60)
    assert out == 'm{a="{SEL} [RANGE]"}[1m]'


@pytest.mark.parametrize(("template", "needs_collection", "problem"), [
    ("rate(m[RANGE])", False, "no selector uses the cluster's matchers"),
    ("m{SEL} / n{job=\"x\"}", False, "does not start with SEL"),
    ("m{CSEL}", False, "only allowed in a variant with needs_collection"),
    ("m{SEL}", True, "never uses CSEL"),
    ("rate(m{SEL}[RANGE:5s])", False, "must be [RANGE], [RANGE:RES]"),
    ("rate(m{SEL}[RANGE]", False, "not closed"),
    ('m{SEL, a="unterminated}', False, "unterminated string"),
])
def test_check_template_problems(template: str, needs_collection: bool, problem: str) -> None:
    assert problem in (check_template(template, allow_collection=needs_collection) or "")


def test_catalogue_loads_with_every_signal_of_the_brief() -> None:
    sigs = load_signals()
    assert len(sigs) >= 48
    for name in ("queue_p99", "vector_search_p99", "build_version", "segments_unindexed_sealed", "restarts"):
        assert name in sigs
    assert sigs["segment_p99"].by == "segment_state"
    assert sigs["queue_p99"].unit == "ms" and sigs["queue_p99"].series
    assert sigs["queue_p99"].chart == "latency_by_phase" and sigs["queue_p99"].phase == "queue"
    assert [v.label for v in sigs["vector_search_p99"].variants] == ["2.5+", "2.3", "knowhere module"]


@pytest.mark.parametrize("matchers", [{}, {"namespace": 'we"ird\\', "job": "milvus"}])
def test_every_variant_parses_in_real_prometheus(milvus_prom: MilvusScenario, matchers: dict[str, str]) -> None:
    errors = []
    for sig in load_signals().values():
        for v in sig.variants:
            for range_s in (1800, 120):
                q = render(v.query, matchers, range_s, collection="books" if v.needs_collection else None)
                answer = _api(milvus_prom.url, q)
                if answer["status"] != "success":
                    errors.append(f"{sig.name} [{v.label}]: {answer.get('error')}: {q}")
    assert errors == []


def _catalogue(**signal: Any) -> dict[str, Any]:
    base = {"title": "T", "unit": "ms", "variants": [{"label": "all", "query": "max(m{SEL})"}]}
    base.update(signal)
    return {"signals": {"my_signal": base}}


@pytest.mark.parametrize(("change", "problem"), [
    ({"unit": "seconds"}, "unit 'seconds' is not one of"),
    ({"title": ""}, "'title' is missing"),
    ({"variants": []}, "'variants' must be a non-empty list"),
    ({"variants": [{"label": "all", "query": "max(m)"}]}, "no selector uses the cluster's matchers"),
    ({"variants": [{"label": "a", "query": "max(m{SEL})"}, {"label": "a", "query": "min(m{SEL})"}]}, "used twice"),
    ({"by": "segment_state"}, "does not group by segment_state"),
    ({"combine": "median"}, "'combine' must be one of"),
    ({"colour": "red"}, "unknown key(s) ['colour']"),
    ({"phase": "queue"}, "'phase' needs a 'chart'"),
    ({"variants": [{"label": "c", "needs_collection": True, "query": "max(m{CSEL})"}]}, "every variant needs"),
])
def test_catalogue_errors_name_signal_and_problem(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(SignalsError) as e:
        parse_signals(_catalogue(**change), source="cat.yaml")
    assert str(e.value).startswith("cat.yaml: signal 'my_signal': ")
    assert problem in str(e.value)


def test_catalogue_file_errors_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "signals.yaml"
    p.write_text("signals:\n  x:\n    title: X\n    unit: ms\n    variants: [{label: a, query: 'max(m)'}]\n")
    with pytest.raises(SignalsError, match=rf"^{p}: signal 'x': variant 1 \(a\): no selector"):
        load_signals(p)
    p.write_text("signals: [")
    with pytest.raises(SignalsError, match=rf"^{p}: not valid YAML"):
        load_signals(p)
