"""The compiled hot paths (bot/slowlog/_speedups.c) give exactly what their Python versions give.

Each compiled function replaces a Python expression; these tests run both on the same inputs:
the fixture lines, lines built to hit every branch of the regexes, and seeded random mutations
of them (quotes, escapes, brackets, non-ASCII digits and spaces, invalid UTF-8). Where the
compiled function declines (returns None for the Python path to decide), the tests check that it
only declines where the Python regexes really depend on Unicode.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from bot.digest import fingerprint as fp
from bot.digest.builder import DigestBuilder
from bot.digest.files import digest_files
from bot.digest.report import render_text
from bot.slowlog import parser
from bot.slowlog.accel import speedups

DATA = Path(__file__).parent / "data"
PURE_PYTHON = os.environ.get("MILVUS_TRIAGE_PURE_PYTHON", "") not in ("", "0")
pytestmark = pytest.mark.skipif(PURE_PYTHON, reason="MILVUS_TRIAGE_PURE_PYTHON=1: the extension is off")


def test_extension_is_built() -> None:
    # CI installs with a compiler: a build that failed silently (the extension is optional) would
    # leave the Python versions running, correct but slower. That must show here.
    assert speedups is not None


# --------------------------------------------------------------------------- corpus


def _fixture_lines() -> list[bytes]:
    lines: list[bytes] = []
    for path in [DATA / "slowlog" / "shapes.log", DATA / "digest" / "sample.log"]:
        lines += path.read_bytes().splitlines()
    return lines


HEAD = b'[2026/11/24 10:00:00.123 +00:00] [INFO] [proxy/impl.go:3141] ["Search slow"]'
CRAFTED = [
    HEAD + b' [traceID=abc] [dsl="user == \\"a]b\\" && x == 1"] [nq=1] [duration=1.5s]',
    HEAD + b' [a=1] [b="x]y"] ["k k"=v] [empty=] [c="unterminated] [d=2]',
    HEAD + b' [dsl="a \\\\"] [q="\\"] [r=1]',  # an escaped backslash, then a quote that escapes
    HEAD + b' [x="tab\\tand\\u00e9"] [y="\xe4\xb8\xad\xe6\x96\x87"] [z=\xff\xfe] [w=1]',
    HEAD + b' [x=a [y=b] [z=c]',  # a value that swallows the next field's bracket
    HEAD + b' [[x=1] [ x=2] [x y=3] [x=4]',
    HEAD + b' ["quoted \\"key\\""=1] ["bad key=2] [k="v"tail]',
    HEAD + b' [nl="a\\\nb"] [after=1]',  # a backslash before a newline: `.` does not take it
    b'[2026/11/24 10:00:00.123 +00:00] [info] [x.go:1] ["Search slow"] [a=1]',  # lower-case level
    b'[2026/11/24 10:00:00.123 +00:00] [INFO] [x.go:1] ["Search \\"slow\\""] [a=1]',
    b'[2026/11/24 10:00:00.123 +00:00] [INFO] [x.go:1] [Search slow] [a=1]',
    b'[no] [INFO] [x] ["m"]',
    b'[] [A] [] [""]',
    b'[t] [INFO] [c] ["m"] [a=1]]',
    b'[t] [INFO] [c] ["m"]x [a=1]',
    b'[t]  [INFO] [c] ["m"] [a=1]',
    b'[t] [INFO] [c] ["m\xff"] [\xe2\x80\x83=1] [k=\xe2\x80]',
]
ALPHABET = [b"[", b"]", b" ", b"=", b'"', b"\\", b"\\\"", b" [", b"] [", b"\n", b"\r", b"\t", b"\xff",
            b"\xe4\xb8\xad", b"\xe2\x80\x83", b"a", b"k=", b'="', b"0", b"'"]


def _mutations(lines: list[bytes], n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        b = bytearray(rng.choice(lines))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b) + 1)
            op = rng.random()
            if op < 0.5:
                b[i:i] = rng.choice(ALPHABET)
            elif op < 0.8:
                del b[i:i + rng.randint(1, 3)]
            else:
                b[i:i + 1] = rng.choice(ALPHABET)
        out.append(bytes(b))
    return out


def _text_corpus() -> list[bytes]:
    base = [ln for ln in _fixture_lines() if ln[:1] == b"["] + CRAFTED
    return base + _mutations(base, 4000, 20261124)


# --------------------------------------------------------------------------- text_values


def _every_field_name(text: str) -> tuple[str, ...]:
    m = parser._HEADER.match(text)
    # Names are matched as bytes: a name with replaced (invalid) UTF-8 cannot be asked for.
    found = [k for k, _ in parser._FIELD.findall(text, m.end()) if "\ufffd" not in k] if m else []
    return tuple(dict.fromkeys([*found, *parser.TEXT_NAMES, "absent", '"k k"']))


def test_text_values_equal_the_header_and_field_regexes() -> None:
    assert speedups is not None
    compared = matched = 0
    for line in _text_corpus():
        text = line.decode("utf-8", errors="replace")
        names = _every_field_name(text)  # every field the regex finds, so all values are compared
        got = speedups.text_values(line, tuple(n.encode() for n in names))
        if not (line[:1] == b"[" and line[-1:] == b"]"):
            assert got is None, line  # not its domain: the Python path strips and decides
            continue
        assert got == parser.text_values(text, names), line
        compared += 1
        matched += got is not None
    assert compared > 3000 and matched > 1000  # the corpus really exercises both outcomes


def test_text_values_takes_the_last_of_repeated_fields_and_rejects_str_names() -> None:
    assert speedups is not None
    line = HEAD + b" [a=1] [b=2] [a=3]"
    assert speedups.text_values(line, (b"a", b"b", b"c")) == (
        "2026/11/24 10:00:00.123 +00:00", '"Search slow"', ("3", "2", None))
    with pytest.raises(TypeError):
        speedups.text_values(line, ("a",))


def test_parse_slow_line_is_the_same_with_and_without_the_compiled_tokenizer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _text_corpus()

    def parse_all() -> list[object]:
        out: list[object] = []
        for line in lines:
            try:
                out.append(parser.parse_slow_line(line))
            except parser.MalformedLine as e:
                out.append(("malformed", str(e)))
        return out

    compiled = parse_all()
    monkeypatch.setattr(parser, "_c_text_values", None)
    python = parse_all()
    assert compiled == python
    assert sum(r is not None and not isinstance(r, tuple) for r in python) > 1000


# --------------------------------------------------------------------------- skeleton

EXPR_PARTS = ["user", " == ", '"a"', "'b'", '"x\\"y"', '"unterminated', "'", '"', "\\", " && ", " || ", "and",
              " in ", "[", "]", ", ", ",", "1", "2.5", ".5", "5.", "1e3", "1e", "1e+", "2E-7", "0x1F", "0x",
              "0b101", "0b2", "-", "x1", "$1", "a.1", "_9", "?", " ", "\t", "\n", "\x1c", "meta", '["k"]',
              "[0]", " like ", '"%x"', "(", ")", "é", "٣", "\u3000", "\u00a0", "北京", "\U0001f600",
              "Ⅻ", "array_contains(tags, ", "{tmpl}", "\\n"]


def _exprs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(EXPR_PARTS) for _ in range(rng.randint(1, 14))) for _ in range(n)]


def _fixture_exprs() -> list[str]:
    out = []
    for line in _fixture_lines():
        try:
            req = parser.parse_slow_line(line)
        except parser.MalformedLine:
            continue
        if req is not None and req.dsl:
            out += [req.dsl, *req.dsls]
    return out


def test_skeleton_equals_the_blanking_regexes() -> None:
    assert speedups is not None
    declined = ascii_declined = 0
    exprs = _fixture_exprs() + _exprs(20000, 7)
    for expr in exprs:
        got = speedups.skeleton(expr)
        if got is None:
            declined += 1
            ascii_declined += expr.isascii()
            continue
        assert got == fp.skeleton(expr), expr
    assert ascii_declined == 0  # it only declines where Unicode matters
    assert declined < len(exprs) // 2


@pytest.mark.parametrize("expr", ["x == 1٣", "a in [1,\u3000 2]", "é1 == 2", "x == .٣", "x == 1e٣"])
def test_skeleton_declines_where_python_regexes_read_unicode(expr: str) -> None:
    assert speedups is not None and speedups.skeleton(expr) is None


def test_skeleton_of_lone_surrogates_is_left_to_python() -> None:
    assert speedups is not None and speedups.skeleton('x == "\ud800"') is None
    assert fp.fingerprint('x == "\ud800"') == "x == ?"


def test_fingerprints_are_the_same_with_and_without_the_compiled_skeleton(
        monkeypatch: pytest.MonkeyPatch) -> None:
    exprs = _fixture_exprs() + _exprs(3000, 11)
    fp.clear_cache()
    compiled = [fp.fingerprint(e) for e in exprs]
    fp.clear_cache()
    monkeypatch.setattr(fp, "_c_skeleton", None)
    python = [fp.fingerprint(e) for e in exprs]
    fp.clear_cache()
    assert compiled == python


# --------------------------------------------------------------------------- scanning


def _py_find_lines(buf: bytes, start: int, end: int, max_line: int) -> tuple[list[bytes], int]:
    st = parser.ScanStats()
    old = parser.MAX_LINE
    parser.MAX_LINE = max_line
    try:
        found = list(parser._candidates(buf, start, end, st, parser._py_hits))
    finally:
        parser.MAX_LINE = old
    return found, st.overlong


def test_find_lines_and_count_newlines_equal_the_python_scan() -> None:
    assert speedups is not None
    rng = random.Random(3)
    pieces = [b'slow"', b"slow", b'low"', b"\n", b"x" * 17, b"s", b'"', b"\xff", b"ab\n", b'["Search slow"] y']
    for _ in range(3000):
        buf = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))) + b"\n"
        assert speedups.count_newlines(buf) == buf.count(b"\n")
        start = rng.randrange(len(buf))
        if buf[start - 1:start] not in (b"\n", b"") and rng.random() < 0.7:
            start = buf.rfind(b"\n", 0, start) + 1  # the scanner always starts at a line start
        end = buf.rfind(b"\n")
        if start > end:
            continue
        max_line = rng.choice([5, 20, 1 << 20])
        assert speedups.find_lines(buf, start, end, b'slow"', max_line) == _py_find_lines(buf, start, end, max_line)


def test_find_lines_rejects_a_bad_range() -> None:
    assert speedups is not None
    with pytest.raises(ValueError):
        speedups.find_lines(b"ab\n", 0, 5, b'slow"', 10)


def _scan_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """scan_slow_lines without the extension: memmem/numpy or bytes.find and bytes.count."""
    monkeypatch.setattr(parser, "speedups", None)
    monkeypatch.setattr(parser, "_HITS", None)
    monkeypatch.setattr(parser, "_COUNT_NL", None)


def test_digest_report_is_byte_identical_without_the_extension(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(b"\n".join(_fixture_lines() + CRAFTED + _mutations(_fixture_lines(), 500, 5)) + b"\n")

    def run() -> tuple[str, int, int]:
        fp.clear_cache()
        builder = DigestBuilder()
        stats, malformed = digest_files([str(log)], None, None, builder)
        return render_text(builder.finish()), stats.candidates, malformed

    compiled = run()
    monkeypatch.setattr(parser, "_c_text_values", None)
    monkeypatch.setattr(fp, "_c_skeleton", None)
    _scan_in_python(monkeypatch)
    python = run()
    fp.clear_cache()
    assert compiled == python
    assert compiled[1] > 50


def test_scan_counts_match_with_and_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\n".join(_fixture_lines() * 3) + b"\nlast slow\" line"

    def scan() -> tuple[list[bytes], int, int, int]:
        st = parser.ScanStats()
        found = list(parser.scan_slow_lines(io.BytesIO(data), st, chunk_size=4096))
        return found, st.lines, st.candidates, st.overlong

    compiled = scan()
    _scan_in_python(monkeypatch)
    assert scan() == compiled


def test_count_newlines_on_large_buffers() -> None:
    # Past 255 rounds of 32 bytes the byte-lane counters are folded: cover that and the tails.
    assert speedups is not None
    rng = random.Random(9)
    for size in (0, 1, 31, 32, 33, 8160, 8161, 16320, 100_003, 1 << 20):
        buf = bytes(rng.choice(b"\nab\n\xff") for _ in range(size))
        assert speedups.count_newlines(buf) == buf.count(b"\n")
    assert speedups.count_newlines(b"\n" * 300_000) == 300_000
