"""Rendering a Diagnosis as terminal text, markdown and JSON, with hostile text from logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from markdown_it import MarkdownIt

from bot.config import AppConfig, ClusterConfig
from bot.diagnosis import diagnose
from bot.models import Diagnosis, TriageRequest
from bot.playbook import load_playbooks
from bot.playbook.fixture import build_evidence, window_of
from bot.render import FORMATS, render

PB = load_playbooks()
ANSI = "\x1b[31mRED\x1b[0m"
TICKS = "a ``` b ` c"
HOSTILE_VALUES = ['"<!channel>"'] + [f'"v{i}"' for i in range(1, 12)]
# A 10,000+ character filter: an OR chain whose values carry a mention, backticks, ANSI escapes and CJK.
LONG_DSL = " or ".join(f'tag == {v}' for v in HOSTILE_VALUES) + f' or tag == "{TICKS} {ANSI} 北京 *_#|" or ' + \
    " or ".join(f'tag == "filler{i:05d}"' for i in range(500))
REWRITTEN = f'tag in [{", ".join(HOSTILE_VALUES)}, "{TICKS}"]'
EVIL_COLLECTION = "docs<@U123>"


def hostile_diagnosis() -> Diagnosis:
    spec: dict[str, Any] = {
        "version": "2.3.5",
        "signals": {"core_p99": 4000, "vector_search_p99": 200, "core_to_vector_ratio": 20,
                    "proxy_search_p99": {"value": 5000, "baseline": 8}},
        "slowlog": {"threshold_s": 5, "shapes": [{
            "collection": EVIL_COLLECTION, "count": 7, "max_s": 6.5, "dsl": LONG_DSL,
            "filter_shape": f"tag == ? [OR x N: 100+] | `x` {ANSI}",
            "fields": {"tag": ["=="]}, "or_chains": {"tag": 512},
            "or_chain_values": {"tag": HOSTILE_VALUES}, "rewritten": REWRITTEN}]},
        "milvus": {"server_version": "v2.3.5-lite", "collections": [{
            "name": EVIL_COLLECTION, "row_count": 1000, "load_state": "Loaded",
            "fields": [{"name": "id", "data_type": "INT64", "is_primary": True},
                       {"name": "tag", "data_type": "VARCHAR"},
                       {"name": "vec", "data_type": "FLOAT_VECTOR", "is_vector": True, "dim": 8,
                        "index": {"field_name": "vec", "index_type": "HNSW", "metric_type": "L2"}}]}]},
    }
    assert len(LONG_DSL) > 10_000
    ev = build_evidence(spec, PB.signals, PB.signal_titles)
    config = AppConfig(clusters=[ClusterConfig(name="test")])
    return diagnose(TriageRequest(cluster="test", window=window_of({})), config, evidence=ev)


@pytest.fixture(scope="module")
def diag() -> Diagnosis:
    d = hostile_diagnosis()
    ids = [f.rule_id for f in d.findings]
    assert ids[0] == "or_chain_filter" and "known_version_regression" in ids  # 512 terms on 2.3.5
    return d


def test_text_strips_control_characters_and_truncates_visibly(diag: Diagnosis) -> None:
    out = render(diag, "text")
    assert "\x1b" not in out and "\ufffd[31mRED\ufffd[0m" in out  # the escape cannot drive the terminal
    assert "北京" in out  # non-ASCII survives
    assert "more characters]" in out  # the 10,000-character filter is cut, visibly
    assert max(len(line) for line in out.splitlines()) < 1500
    assert LONG_DSL not in out
    assert "<!channel>" in out and EVIL_COLLECTION in out  # plain text for a terminal: shown as is
    assert "1. [CRITICAL] Inefficient filtering:" in out
    for heading in ("Evidence:", "Fix:", "Code:", "Docs: https://milvus.io/docs/boolean.md", "Slow log:",
                    "Checked and healthy:", "Could not check:"):
        assert heading in out


def _tokens(md: str) -> list[Any]:
    parser = MarkdownIt("commonmark").enable("table")
    flat = []
    for tok in parser.parse(md):
        flat.append(tok)
        flat.extend(tok.children or [])
    return flat


def test_markdown_keeps_log_text_inert(diag: Diagnosis) -> None:
    md = render(diag, "markdown")
    tokens = _tokens(md)
    assert not [t for t in tokens if t.type in ("html_inline", "html_block")], "log text became HTML"
    assert "\x1b" not in md
    text = "".join(t.content for t in tokens if t.type == "text")
    assert "<!channel>" in text and EVIL_COLLECTION in text  # shown literally, as text
    assert "北京" in text and "more characters]" in text


def test_markdown_code_survives_backticks(diag: Diagnosis) -> None:
    md = render(diag, "markdown")
    tokens = _tokens(md)
    fences = [t.content for t in tokens if t.type == "fence"]
    or_code = next(c for c in fences if c.startswith("filter = "))
    assert TICKS in or_code  # the triple backticks inside did not close the block
    assert or_code.rstrip("\n") == diag.findings[0].code[0]
    cells = [t.content for t in tokens if t.type == "code_inline"]
    assert any(c.startswith("tag == ? [OR x N: 100+] | `x`") for c in cells)  # table cell with | and a backtick


def test_markdown_structure(diag: Diagnosis) -> None:
    md = render(diag, "markdown")
    tokens = _tokens(md)
    parser = MarkdownIt("commonmark").enable("table")
    top = parser.parse(md)
    headings = ["".join(c.content for c in top[i + 1].children or [] if c.type in ("text", "code_inline"))
                for i, t in enumerate(top) if t.type == "heading_open"]
    assert headings[0] == diag.verdict  # escaped in the source, read back exactly
    assert any(h.startswith("1. CRITICAL · Inefficient filtering:") for h in headings)
    assert any(t.type == "table_open" for t in tokens)
    links = [t.attrGet("href") for t in tokens if t.type == "link_open"]
    assert "https://milvus.io/docs/boolean.md" in links


def test_json_is_complete_and_parses(diag: Diagnosis) -> None:
    data = json.loads(render(diag, "json"))
    assert data["findings"][0]["rule_id"] == "or_chain_filter"
    assert data["verdict"] == diag.verdict
    assert data["evidence"]["slowlog"]["digest"]["shapes"][0]["worst"]["dsl"] == LONG_DSL  # raw data, not cut
    assert data["top_cause"] == "inefficient_filtering"


def test_every_format_renders_the_empty_diagnosis() -> None:
    ev = build_evidence({"version": "2.3.5", "missing": [{"source": "metrics", "what": "Prometheus",
                                                            "reason": "refused <!here>"}]},
                        PB.signals, PB.signal_titles)
    d = diagnose(TriageRequest(cluster="test", window=window_of({})),
                 AppConfig(clusters=[ClusterConfig(name="test")]), evidence=ev)
    for fmt in FORMATS:
        out = render(d, fmt)
        assert "refused" in out
    assert "No findings." in render(d, "text")
    assert "Slow log: unavailable (no log source configured)" in render(d, "text")
    assert "\\<\\!here\\>" in render(d, "markdown")


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'html'"):
        render(hostile_diagnosis(), "html")
