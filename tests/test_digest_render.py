"""Renderers: the text report (escaping, MISC folding, histogram bars, byte-for-byte golden report),
JSON, and the Slack Block Kit reply (limits and escaping)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.digest import DigestBuilder
from bot.digest.report import bars, digest_dict, fold, render_text
from bot.digest.slack import digest_blocks, digest_text
from bot.models import SlowRequest
from bot.slack.limits import MAX_BLOCKS, MAX_TOTAL_CHARS, check_limits, text_chars
from tests.test_digest_helpers import at

DATA = Path(__file__).parent / "data" / "digest"


def req(d: float, t: float = 0.0, **kw: object) -> SlowRequest:
    base = {"kind": "search", "duration_s": d, "time": at(t), "db": "default", "collection": "products",
            "dsl": 'user == "a"', "nq": 1, "topk": 10, "search_params": {"nprobe": 16}, "raw": "raw line"}
    base.update(kw)
    return SlowRequest(**base)  # type: ignore[arg-type]


def many_shapes(n: int = 25, filter_len: int = 4000) -> DigestBuilder:
    b = DigestBuilder(top=20)
    for i in range(n):
        long_filter = " && ".join(f"f{i}_{k} == 'v'" for k in range(filter_len // 12))
        for j in range(i + 1):
            b.add(req(5.0 + i, t=j, collection=f"<!channel> `c{i}` & <@U123>", dsl=long_filter,
                      raw=f"\x1b[31m<!here> line {i}\x1b[0m"))
    return b


def test_text_report_escapes_terminal_control_characters() -> None:
    b = DigestBuilder()
    b.add(req(6.0, raw='[2026/11/24] ["Search slow"] [dsl="a\x1b[2J\x07"]', collection="prod\x1b[31m"))
    text = render_text(b.finish())
    assert "\x1b" not in text and "\x07" not in text
    assert '[dsl="a\ufffd[2J\ufffd"]' in text
    assert "collection prod\ufffd[31m" in text


def test_fold_merges_extra_shapes_into_misc() -> None:
    b = DigestBuilder(top=4)
    for i in range(6):
        for _ in range(i + 1):
            b.add(req(10.0 * (i + 1), collection=f"c{i}"))
    d = b.finish()
    assert [s.collection for s in d.shapes] == ["c5", "c4", "c3", "c2"]
    assert d.other is not None and d.other.count == 2 + 1
    shown, misc = fold(d, 2)
    assert [s.collection for s in shown] == ["c5", "c4"]
    assert misc is not None
    assert misc.count == 4 + 3 + 2 + 1
    assert misc.total_s == pytest.approx(4 * 40 + 3 * 30 + (2 * 20 + 1 * 10))  # c3 + c2 + the builder's MISC
    assert misc.shape_count == 4
    assert misc.max_s == 40.0
    assert misc.share == pytest.approx(misc.total_s / d.total_s)
    assert fold(d, None) == (d.shapes, d.other)


def test_bars_scale_to_the_largest_bucket() -> None:
    lines = bars([0, 1, 0, 100, 50, 0], width=20)
    assert lines[0] == "    <10ms"
    assert lines[1] == " 10-100ms  " + "#".ljust(20) + " 1"  # at least one mark for a non-empty bucket
    assert lines[3] == "    1-10s  " + "#" * 20 + " 100"
    assert lines[4] == "  10-100s  " + "#" * 10 + " " * 10 + " 50"


def test_json_top_and_other() -> None:
    d = many_shapes(n=5, filter_len=40).finish()
    data = digest_dict(d, top=2)
    assert len(data["shapes"]) == 2
    assert data["other"]["count"] == 1 + 2 + 3
    assert data["other"]["shape_count"] == 3
    assert json.loads(json.dumps(data)) == data  # plain JSON


def test_slack_blocks_stay_within_limits_and_escape() -> None:
    d = many_shapes().finish()
    for top in (3, 10, 20):
        blocks = digest_blocks(d, "prod-eu", top)
        assert check_limits(blocks) == blocks  # raises BlockLimitError otherwise
        assert len(blocks) <= MAX_BLOCKS
        assert text_chars(blocks) <= MAX_TOTAL_CHARS
        dumped = json.dumps(blocks, ensure_ascii=False)
        assert "<!channel>" not in dumped and "<@U123>" not in dumped and "<!here>" not in dumped
        assert "&lt;!channel&gt;" in dumped
        assert "`c" not in dumped.replace("```", "")  # backticks in log text are neutralised
    blocks = digest_blocks(d, "prod-eu", 3)
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"] == "prod-eu: slow-search digest"
    sections = [b for b in blocks if b["type"] == "section"]
    shape_sections = [b for b in sections if b["text"]["text"].startswith("*")]
    assert [b["text"]["text"][:4] for b in shape_sections[1:]] == ["*1.*", "*2.*", "*3.*"]
    footer = blocks[-1]["elements"][0]["text"]
    misc_calls = sum(range(1, 23))  # shapes 4..25 hold 22+21+...+1 calls
    assert f"MISC: {misc_calls:,} calls in 22 more shapes" in footer


def test_slack_blocks_for_an_empty_digest() -> None:
    blocks = digest_blocks(DigestBuilder().finish(), "staging", 10)
    assert check_limits(blocks) == blocks
    assert "No slow requests" in blocks[1]["text"]["text"]


def test_slack_shape_text_carries_the_rewrite() -> None:
    b = DigestBuilder()
    b.add(req(6.0, dsl='tag == "<a>" || tag == "b"'))
    blocks = digest_blocks(b.finish(), "prod-eu", 5)
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "OR chain of 2 equalities on `tag`" in text
    assert 'rewrite as `tag in ["&lt;a&gt;", "b"]`' in text


def test_digest_text_is_the_full_report() -> None:
    d = many_shapes(n=3, filter_len=40).finish()
    text = digest_text(d)
    assert text == render_text(d)
    assert text.count("# Shape ") == 3


def test_golden_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    """Byte-for-byte, like pt-query-digest's own tests. UPDATE_GOLDEN=1 rewrites the expected file."""
    log = DATA / "sample.log"
    expected = DATA / "sample.txt"
    assert main(["--config", "/nonexistent/clusters.yaml", "digest", str(log), "--top", "4"]) == 0
    got = capsys.readouterr().out.replace(str(log), "tests/data/digest/sample.log")
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")
