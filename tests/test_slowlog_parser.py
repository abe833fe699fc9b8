"""The slow-line parser and the chunked scanner: every line shape Milvus writes, and damaged input."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.models import SlowRequest
from bot.slowlog import parser
from bot.slowlog.parser import (
    MAX_LINE,
    MalformedLine,
    ScanStats,
    parse_duration,
    parse_log_time,
    parse_slow_line,
    peek_time,
    scan_slow_lines,
)

DATA = Path(__file__).parent / "data" / "slowlog"


def _by_trace() -> dict[str, SlowRequest]:
    out: dict[str, SlowRequest] = {}
    for line in (DATA / "shapes.log").read_bytes().splitlines():
        req = parse_slow_line(line)
        if req is not None:
            assert req.trace_id not in out
            out[req.trace_id or ""] = req
    return out


@pytest.fixture(scope="module")
def shapes() -> dict[str, SlowRequest]:
    return _by_trace()


def _fields(req: SlowRequest) -> dict[str, object]:
    return {k: getattr(req, k) for k in req.__slots__ if k != "raw"}  # type: ignore[attr-defined]


def test_v23_search_text(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["8d1b0e5f7a0c4e2c9b3f6a1d2e4c5b7a"]
    assert _fields(r) == {
        "kind": "search", "duration_s": pytest.approx(6.402345678),
        "time": datetime(2024, 1, 22, 8, 15, 3, 482000, tzinfo=UTC),
        "trace_id": "8d1b0e5f7a0c4e2c9b3f6a1d2e4c5b7a", "role": "proxy", "db": "default",
        "collection": "products", "partitions": [], "dsl": 'color == "red" || color == "blue"',
        "nq": 1, "topk": 10, "metric_type": "L2", "anns_field": "embedding",
        "search_params": {"nprobe": 4096}, "output_fields": ["id", "color"],
        "consistency_level": None, "use_default_consistency": None, "guarantee_timestamp": 1,
        "duration_per_nq_s": None, "placeholder_bytes": 524, "fmt": "text", "dsls": [],
    }
    assert r.raw.startswith("[2024/01/22 08:15:03.482 +00:00] [INFO] [proxy/impl.go:2578]")


def test_v235_real_search_line_with_empty_dsl(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["94974e0cf49a265f5f735386e8390325"]
    assert (r.kind, r.collection, r.dsl, r.nq, r.topk, r.metric_type, r.anns_field) == (
        "search", "hs_hnsw", "", 1, 10, "L2", "vec")
    assert r.search_params == {"ef": 64}
    assert r.output_fields == [] and r.partitions == []
    assert r.duration_s == pytest.approx(6.18542642)
    assert r.placeholder_bytes == 524 and r.guarantee_timestamp == 1


def test_v23_query_text(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["0c3e5d0f1a2b3c4d5e6f708192a3b4c5"]
    assert _fields(r) == {
        "kind": "query", "duration_s": pytest.approx(5.120934101),
        "time": datetime(2024, 1, 22, 8, 16, 10, 7000, tzinfo=UTC),
        "trace_id": "0c3e5d0f1a2b3c4d5e6f708192a3b4c5", "role": "proxy", "db": "default",
        "collection": "products", "partitions": [], "dsl": "id in [1,2,3]", "nq": None, "topk": None,
        "metric_type": None, "anns_field": None, "search_params": {}, "output_fields": ["*"],
        "consistency_level": None, "use_default_consistency": None, "guarantee_timestamp": 0,
        "duration_per_nq_s": None, "placeholder_bytes": None, "fmt": "text", "dsls": [],
    }


def test_v244_hybrid_has_no_dsls(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"]
    assert (r.kind, r.collection, r.partitions, r.output_fields) == ("hybrid_search", "docs", ["p1", "p2"], ["title"])
    assert r.dsl == "" and r.dsls == [] and r.nq is None
    assert r.guarantee_timestamp == 449912345678901249
    assert r.duration_s == 5.5


def test_v25_hybrid_dsls_and_timezone(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"]
    assert r.kind == "hybrid_search" and r.db == "analytics"
    assert r.dsls == ["year > 2020", 'tag in ["a", "b"]']
    assert r.dsl == 'year > 2020 ||| tag in ["a", "b"]'
    assert (r.consistency_level, r.use_default_consistency) == ("Session", False)
    assert r.duration_s == pytest.approx(0.85)
    assert r.time == datetime(2025, 5, 1, 4, 0, 0, tzinfo=UTC)  # +08:00 read as such
    assert r.time.utcoffset() == timedelta(hours=8)
    assert r.output_fields == ["id", "title"]


def test_v25_query_text(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2"]
    assert (r.kind, r.dsl, r.partitions, r.output_fields) == ("query", 'color like "%red"', ["_default"], ["id", "color"])
    assert (r.consistency_level, r.use_default_consistency) == ("Bounded", True)
    assert r.guarantee_timestamp == 458000000000000002
    assert r.duration_s == pytest.approx(1.2)


def test_v25_search_diskann_search_list(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3"]
    assert (r.nq, r.topk, r.metric_type, r.anns_field) == (10, 100, "IP", "emb")
    assert r.search_params == {"search_list": 200}
    assert r.partitions == ["2024_q1", "2024_q2"]
    assert r.dsl == "price > 10 && price < 20"
    assert (r.consistency_level, r.use_default_consistency, r.guarantee_timestamp) == ("Eventually", False, 1)
    assert r.placeholder_bytes == 40972 and r.duration_per_nq_s is None


def test_v2513_seed_line_text(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["9100b3092108604716f1472e4c7d54e4"]
    assert _fields(r) == {
        "kind": "search", "duration_s": pytest.approx(312.002784545),
        "time": datetime(2025, 8, 23, 19, 22, 19, 900000, tzinfo=UTC),
        "trace_id": "9100b3092108604716f1472e4c7d54e4", "role": "proxy", "db": "default",
        "collection": "my_repos", "partitions": [],
        "dsl": 'user == "milvus-io" && repo == "proxy.slowQuerySpanInSeconds"',
        "nq": 1, "topk": 10, "metric_type": "COSINE", "anns_field": "vector",
        "search_params": {"nprobe": 256}, "output_fields": ["user", "repo", "path", "descripion"],
        "consistency_level": "Strong", "use_default_consistency": True,
        "guarantee_timestamp": 460318735832711168, "duration_per_nq_s": pytest.approx(312.002784545),
        "placeholder_bytes": 8204, "fmt": "text", "dsls": [],
    }


def test_json_format_equals_text_format(shapes: dict[str, SlowRequest]) -> None:
    text, js = shapes["9100b3092108604716f1472e4c7d54e4"], shapes["9100b3092108604716f1472e4c7d54e5"]
    a, b = _fields(text), _fields(js)
    assert b.pop("fmt") == "json" and a.pop("fmt") == "text"
    assert b.pop("trace_id") != a.pop("trace_id")
    assert a == b


def test_guarantee_timestamp_above_2_53_is_exact(shapes: dict[str, SlowRequest]) -> None:
    for trace in ("9100b3092108604716f1472e4c7d54e4", "9100b3092108604716f1472e4c7d54e5"):
        gt = shapes[trace].guarantee_timestamp
        assert type(gt) is int and gt == 460318735832711168 and gt > 2**53
    odd = shapes["e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e5"].guarantee_timestamp  # JSON, odd: not a float
    assert odd == 464912345678901251 and odd != int(float(odd))
    line = SEARCH.replace(b"[guarantee_timestamp=1]", b"[guarantee_timestamp=%d]" % (2**63 + 7))
    req = parse_slow_line(line)
    assert req is not None and req.guarantee_timestamp == 2**63 + 7


def test_v269_hybrid_total_nq_and_per_nq(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4"]
    assert (r.kind, r.nq, r.duration_s, r.duration_per_nq_s) == ("hybrid_search", 2, 3.2, 1.6)
    assert r.dsls == ['lang == "en"', ""] and r.dsl == 'lang == "en"'
    assert r.guarantee_timestamp == 464912345678901249
    j = shapes["e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e5"]
    assert (j.fmt, j.nq, j.duration_s, j.duration_per_nq_s) == ("json", 3, 4.5, 1.5)
    assert j.dsls == ['lang == "de"', "year >= 2024"] and j.partitions == ["p1"]
    assert j.output_fields == ["title", "body"]


def test_v2618_query_with_query_label(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5"]
    assert (r.kind, r.dsl, r.output_fields) == ("query", 'meta["tag"] == "x"', ["id"])
    assert (r.consistency_level, r.use_default_consistency) == ("Strong", False)
    assert r.time == datetime(2026, 3, 2, 10, 2, 0, 1000, tzinfo=UTC)


def test_json_query(shapes: dict[str, SlowRequest]) -> None:
    r = shapes["0c3e5d0f1a2b3c4d5e6f708192a3b4c6"]
    assert (r.kind, r.fmt, r.dsl, r.output_fields, r.duration_s, r.guarantee_timestamp) == (
        "query", "json", "id > 0", ["count(*)"], 12.5, 0)


def test_every_slow_shape_is_found() -> None:
    assert len(_by_trace()) == 13


@pytest.mark.parametrize("line", [
    '[2026/11/24 15:42:59.000 +00:00] [WARN] [gc/gc_tuner.go:99] ["GC Tune done, and the gc is slow"] ["previous GOGC"=200] ["heapuse "=393] ["total memory"=1509] [gc-pause=30.74ms]',
    '[2026/11/24 15:43:00.010 +00:00] [WARN] [server/rocksmq_impl.go:670] ["rocksmq produce too slowly"] [topic=by-dev-rootcoord-dml_3] ["produce total elapse"=284]',
    '[2026/11/24 15:43:00.020 +00:00] [WARN] [rootcoord/timeticksync.go:313] ["rootcoord send tt to all channels too slowly"] [chanNum=4] [span=333]',
    '{"level":"WARN","time":"2026/11/24 15:42:59.000 +00:00","caller":"gc/gc_tuner.go:99","message":"GC Tune done, and the gc is slow"}',
    "plain text mentioning a slow\" query",
    "",
])
def test_lines_that_say_slow_are_not_slow_requests(line: str) -> None:
    assert parse_slow_line(line) is None
    assert parse_slow_line(line.encode()) is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("5m12.002784545s", 312.002784545), ("1.2s", 1.2), ("850ms", 0.85), ("3µs", 3e-6), ("3μs", 3e-6),
    ("3us", 3e-6), ("100ns", 1e-7), ("0s", 0.0), ("1h2m3.5s", 3723.5), ("2h0m0s", 7200.0),
    ("812.5ms", 0.8125), ("-1.5s", -1.5),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "5", "1.2", "s", "1.2x", "inf", "1e3s", "five seconds", "1.s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(MalformedLine):
        parse_duration(bad)


def test_log_times() -> None:
    assert parse_log_time("2024/01/22 08:15:03.482 +00:00") == datetime(2024, 1, 22, 8, 15, 3, 482000, tzinfo=UTC)
    t = parse_log_time("2024/01/22 08:15:03.482 -07:00")
    assert t.utcoffset() == timedelta(hours=-7) and t == datetime(2024, 1, 22, 15, 15, 3, 482000, tzinfo=UTC)
    assert parse_log_time("2024/01/22 08:15:03 +0530").tzinfo == timezone(timedelta(hours=5, minutes=30))
    assert parse_log_time("2024-01-22T08:15:03Z") == datetime(2024, 1, 22, 8, 15, 3, tzinfo=UTC)
    # the per-second cache must not leak milliseconds between lines of one second
    assert parse_log_time("2024/01/22 08:15:03.000 +00:00").microsecond == 0
    for bad in ("2024/13/22 08:15:03.482 +00:00", "yesterday", "2024/01/22 08:15:03.4x2 +00:00"):
        with pytest.raises(MalformedLine):
            parse_log_time(bad)


def test_peek_time_matches_full_parse() -> None:
    for line in (DATA / "shapes.log").read_bytes().splitlines():
        req = parse_slow_line(line)
        if req is not None:
            assert peek_time(line) == req.time
    assert peek_time(b"no time here") is None
    assert peek_time(b"[not a time] [INFO]") is None


SEARCH = (DATA / "shapes.log").read_bytes().splitlines()[0]


@pytest.mark.parametrize(("line", "why"), [
    (SEARCH[:-40], "truncated"),
    (SEARCH.replace(b" [duration=6.402345678s]", b""), "without duration"),
    (SEARCH.replace(b"[duration=6.402345678s]", b"[duration=six]"), "not a duration"),
    (SEARCH.replace(b"[nq=1]", b"[nq=many]"), "nq is not an integer"),
    (SEARCH.replace(b"[guarantee_timestamp=1]", b"[guarantee_timestamp=x1]"), "guarantee_timestamp"),
    (SEARCH.replace(b"2024/01/22 08:15:03.482", b"2024/01/99 08:15:03.482"), "bad time"),
    (b'{"level":"INFO","message":"Search slow","duration":"1s"', "does not parse"),
    (b'{"level":"INFO","message":"Search slow","duration":"1s"}', "without time"),
    (b'garbage before ["Search slow"] [duration=1s]', "without a Milvus log header"),
])
def test_malformed_slow_lines_raise(line: bytes, why: str) -> None:
    with pytest.raises(MalformedLine, match=why):
        parse_slow_line(line)


def test_non_utf8_bytes_are_replaced_not_fatal() -> None:
    line = SEARCH.replace(b'color == \\"red\\"', b'color == \\"r\xff\xfed\\"')
    req = parse_slow_line(line)
    assert req is not None and req.dsl == 'color == "r\ufffd\ufffdd" || color == "blue"'
    assert req.duration_s == pytest.approx(6.402345678)
    assert parse_slow_line(b"\xff\xfe\x00 binary slow\" junk") is None


def test_one_megabyte_dsl_line() -> None:
    terms = " or ".join(f'meta[\\"k\\"] == \\"v{i}\\"' for i in range(40000))
    line = SEARCH.replace(b'[dsl="color == \\"red\\" || color == \\"blue\\""]', f'[dsl="{terms}"]'.encode())
    assert len(line) > 1_000_000
    req = parse_slow_line(line)
    assert req is not None
    assert req.dsl.startswith('meta["k"] == "v0" or ') and req.dsl.endswith('meta["k"] == "v39999"')
    assert len(req.raw) == parser.RAW_KEEP
    assert (req.nq, req.topk, req.duration_s) == (1, 10, pytest.approx(6.402345678))


def test_escaped_brackets_and_equals_inside_values() -> None:
    line = SEARCH.replace(b'[dsl="color == \\"red\\" || color == \\"blue\\""]',
                          b'[dsl="tag == \\"] [duration=1s] [x=\\" and a \\\\ b"]')
    req = parse_slow_line(line)
    assert req is not None
    assert req.dsl == 'tag == "] [duration=1s] [x=" and a \\ b'
    assert req.duration_s == pytest.approx(6.402345678)


def test_crlf_line_endings() -> None:
    req = parse_slow_line(SEARCH + b"\r\n")
    assert req is not None and req.duration_s == pytest.approx(6.402345678)


def test_docker_json_envelope() -> None:
    import json
    wrapped = json.dumps({"log": SEARCH.decode() + "\n", "stream": "stdout", "time": "2024-01-22T08:15:03Z"})
    req = parse_slow_line(wrapped)
    assert req is not None and req.trace_id == "8d1b0e5f7a0c4e2c9b3f6a1d2e4c5b7a" and req.topk == 10


def test_search_params_results_are_not_shared() -> None:
    a, b = parse_slow_line(SEARCH), parse_slow_line(SEARCH)
    assert a is not None and b is not None
    a.search_params["nprobe"] = 1
    assert b.search_params == {"nprobe": 4096}
    c = parse_slow_line(SEARCH)
    assert c is not None and c.search_params == {"nprobe": 4096}


# --------------------------------------------------------------------------- scanner


def _scan(data: bytes, chunk: int) -> tuple[list[bytes], ScanStats]:
    st = ScanStats()
    return list(scan_slow_lines(io.BytesIO(data), st, chunk_size=chunk)), st


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1000, 1 << 20])
def test_scanner_finds_lines_across_chunk_boundaries(chunk: int) -> None:
    lines = (DATA / "shapes.log").read_bytes().splitlines()
    data = b"\n".join(lines) + b"\n"
    got, st = _scan(data, chunk)
    assert got == [ln for ln in lines if b'slow"' in ln]
    assert st.lines == len(lines) and st.candidates == len(got) and st.bytes == len(data)


def test_scanner_last_line_without_newline_and_empty_input() -> None:
    got, st = _scan(b"a\nb slow\" c", 4)
    assert got == [b'b slow" c'] and st.lines == 2
    got, st = _scan(b"", 4)
    assert got == [] and st.lines == 0 and st.bytes == 0


def test_scanner_skips_overlong_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "MAX_LINE", 100)
    data = b'short slow" 1\n' + b"x" * 150 + b'slow"\n' + b"y" * 300 + b'slow"' + b"z" * 10 + b"\nok slow\" 2\n"
    for chunk in (16, 64, 1 << 20):
        got, st = _scan(data, chunk)
        assert got == [b'short slow" 1', b'ok slow" 2'], chunk
        assert st.overlong == 2 and st.lines == 4


def test_scanner_works_with_the_python_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser, "_HITS", parser._py_hits)
    monkeypatch.setattr(parser, "_COUNT_NL", lambda b: b.count(b"\n"))
    data = (DATA / "shapes.log").read_bytes()
    got, st = _scan(data * 3, 100)
    assert len(got) == 3 * 15 and st.lines == 3 * 19


def test_memmem_accelerator_agrees_with_bytes_find() -> None:
    hits = parser._memmem_finder()
    if hits is None:
        pytest.skip("no libc memmem on this platform")
    data = (b'x slow" y\n' * 50 + b"z" * 1000) * 20
    assert list(hits(data, b'slow"', 0, len(data))) == list(parser._py_hits(data, b'slow"', 0, len(data)))
    assert list(hits(data, b'slow"', 5, 500)) == list(parser._py_hits(data, b'slow"', 5, 500))


def test_max_line_constant_is_generous() -> None:
    assert MAX_LINE >= 4 << 20  # the OR-chain dsl lines of a real 2.3.5 were 100+ KB
