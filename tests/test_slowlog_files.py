"""collect_slowlog over log files: window, collection, rotation, duplicates, sinks, thresholds."""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ClusterConfig, LogsConfig, MilvusConfig
from bot.models import SlowRequest, TimeWindow
from bot.slowlog.collect import SAMPLE_SIZE, choose_source, collect_slowlog
from bot.slowlog.sources.files import FileSource
from bot.slowlog.sources.slow_query_api import SlowQueryApiSource, derive_url

DATA = Path(__file__).parent / "data" / "slowlog"
SHAPES = DATA / "shapes.log"
T0 = datetime(2026, 11, 24, 15, 0, 0, tzinfo=UTC)

V23 = ('[{ts} +00:00] [INFO] [proxy/impl.go:2578] ["Search slow"] [traceID={trace}] [role=proxy] [db=default] '
       '[collection={coll}] [partitions="[]"] [dsl=] [len(PlaceholderGroup)=524] [OutputFields="[]"] '
       '[search_params="[{{\\"key\\":\\"topk\\",\\"value\\":\\"10\\"}},{{\\"key\\":\\"params\\",\\"value\\":'
       '\\"{{\\\\\\"ef\\\\\\":64}}\\"}},{{\\"key\\":\\"metric_type\\",\\"value\\":\\"L2\\"}},'
       '{{\\"key\\":\\"anns_field\\",\\"value\\":\\"vec\\"}}]"] [guarantee_timestamp=1] [nq={nq}] [duration={dur}]')
NOISE = '[{ts} +00:00] [INFO] [querynodev2/services.go:707] ["received search request"] [collectionID=1] [nq=1]'
GC = '[{ts} +00:00] [WARN] [gc/gc_tuner.go:99] ["GC Tune done, and the gc is slow"] [gc-pause=30.74ms]'


def ts(t: datetime) -> str:
    return t.strftime("%Y/%m/%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def slow(t: datetime, coll: str = "hs_hnsw", dur: str = "6.5s", nq: int = 1, trace: str | None = None) -> str:
    return V23.format(ts=ts(t), coll=coll, dur=dur, nq=nq, trace=trace or f"{int(t.timestamp() * 1000):032x}")


def cluster(files: str | list[str] | None = None, version: str | None = None, **kw: object) -> ClusterConfig:
    logs = LogsConfig(files=files) if files is not None else None
    return ClusterConfig(name="c1", logs=logs, milvus_version=version, **kw)  # type: ignore[arg-type]


def window(start: datetime, end: datetime) -> TimeWindow:
    return TimeWindow(start=start, end=end)


WIDE = window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_shape_through_files_slowest_first() -> None:
    got: list[SlowRequest] = []
    ev, missing = collect_slowlog(cluster(str(SHAPES)), WIDE, None, sinks=[got.append])
    assert missing == []
    assert ev is not None
    assert ev.source == f"files:{SHAPES}"
    assert (ev.lines_read, ev.slow_lines, ev.malformed, ev.truncated) == (19, 13, 0, False)
    assert len(got) == 13 and {r.trace_id for r in got} == {r.trace_id for r in ev.requests}
    durations = [r.duration_s for r in ev.requests]
    assert durations == sorted(durations, reverse=True) and durations[0] == pytest.approx(312.002784545)
    assert ev.threshold_s is None  # formats of several versions, and no milvus_version: unknown


def test_window_filter_is_inclusive_and_exact(tmp_path: Path) -> None:
    times = [T0 + timedelta(minutes=m) for m in (0, 5, 10, 15, 20, 25)]
    lines = []
    for t in times:
        lines += [NOISE.format(ts=ts(t)), slow(t)]
    log = write(tmp_path / "proxy.log", lines)
    ev, missing = collect_slowlog(cluster(str(log)), window(times[1], times[4]), None)
    assert ev is not None and missing == []
    assert sorted(r.time for r in ev.requests) == times[1:5]  # both ends included
    assert ev.lines_read == 12 and ev.slow_lines == 4


def test_collection_filter(tmp_path: Path) -> None:
    lines = [slow(T0 + timedelta(seconds=i), coll=("products" if i % 3 == 0 else "other"), trace=f"{i:032x}")
             for i in range(30)]
    lines.append(slow(T0, coll="products_v2", trace="f" * 32))  # a longer name that contains the asked one
    log = write(tmp_path / "proxy.log", lines)
    ev, _ = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), "products")
    assert ev is not None and ev.slow_lines == 10
    assert {r.collection for r in ev.requests} == {"products"}
    ev2, _ = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), "nope")
    assert ev2 is not None and ev2.slow_lines == 0 and ev2.requests == []


def test_collection_name_that_is_not_an_identifier_is_compared_exactly(tmp_path: Path) -> None:
    lines = [slow(T0, coll="a"), slow(T0 + timedelta(seconds=1), coll="b")]
    log = write(tmp_path / "p.log", lines)
    ev, _ = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), "a] [x")
    assert ev is not None and ev.slow_lines == 0


def test_not_slow_lines_are_neither_counted_nor_malformed(tmp_path: Path) -> None:
    lines = [GC.format(ts=ts(T0)),
             f'[{ts(T0)} +00:00] [WARN] [server/rocksmq_impl.go:670] ["rocksmq produce too slowly"] [topic=t]',
             f'[{ts(T0)} +00:00] [WARN] [rootcoord/timeticksync.go:313] ["rootcoord send tt to all channels too slowly"]',
             slow(T0)]
    log = write(tmp_path / "p.log", lines)
    ev, _ = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), None)
    assert ev is not None and (ev.slow_lines, ev.malformed, ev.lines_read) == (1, 0, 4)


def test_malformed_lines_counted_with_samples(tmp_path: Path) -> None:
    good = slow(T0)
    bad = [good[:-30] for _ in range(4)] + [good.replace("[duration=6.5s]", "[duration=soon]")] * 3
    log = write(tmp_path / "p.log", [good, *bad, "x" * 1000 + ' ["Search slow"] [duration=1s]'])
    ev, _ = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), None)
    assert ev is not None
    assert ev.slow_lines == 1 and ev.malformed == 8
    assert len(ev.malformed_samples) == 5
    assert ev.malformed_samples[0].startswith("truncated slow-request line")
    assert all(len(s) < 400 for s in ev.malformed_samples)


def test_skips_files_last_written_before_the_window(tmp_path: Path) -> None:
    old = write(tmp_path / "proxy-2026-11-23.log", [slow(T0 - timedelta(days=1))])
    new = write(tmp_path / "proxy.log", [slow(T0)])
    long_ago = (T0 - timedelta(days=1)).timestamp()
    os.utime(old, (long_ago, long_ago))
    src = FileSource(str(tmp_path / "*.log"))
    from bot.slowlog.sources import SourceStats

    stats = SourceStats()
    got = list(src.iter_requests(window(T0 - timedelta(minutes=5), T0 + timedelta(minutes=5)), None, stats))
    assert [r.time for r in got] == [T0]
    assert stats.files_read == [str(new)]


def test_all_files_too_old_is_missing_not_empty(tmp_path: Path) -> None:
    log = write(tmp_path / "proxy.log", [slow(T0)])
    os.utime(log, (T0.timestamp(), T0.timestamp()))
    ev, missing = collect_slowlog(cluster(str(log)), window(T0 + timedelta(hours=1), T0 + timedelta(hours=2)), None)
    assert ev is None
    assert len(missing) == 1 and missing[0].source == "slowlog"
    assert "no log file was written since the window start" in missing[0].reason
    assert "2026-11-24 15:00:00 UTC" in missing[0].reason


def test_no_file_matches(tmp_path: Path) -> None:
    ev, missing = collect_slowlog(cluster(str(tmp_path / "nothing-*.log")), WIDE, None)
    assert ev is None and "no file matches" in missing[0].reason
    assert missing[0].what == f"files:{tmp_path / 'nothing-*.log'}"


def test_rotated_gzip_files_and_several_globs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with gzip.open(tmp_path / "a" / "proxy-2026-11-24T15-00-00.000.log.gz", "wt") as f:
        f.write("\n".join(slow(T0 + timedelta(seconds=i), trace=f"{i:032x}") for i in range(5)) + "\n")
    write(tmp_path / "b" / "proxy.log", [slow(T0 + timedelta(seconds=10 + i), trace=f"{10 + i:032x}") for i in range(3)])
    ev, missing = collect_slowlog(cluster([str(tmp_path / "a" / "*.gz"), str(tmp_path / "b" / "*.log")]),
                                  window(T0, T0 + timedelta(minutes=1)), None)
    assert ev is not None and missing == []
    assert ev.slow_lines == 8 and ev.lines_read == 8


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    body = ("\n".join(slow(T0 + timedelta(milliseconds=i), trace=f"{i:032x}") for i in range(3000)) + "\n").encode()
    blob = gzip.compress(body)
    path = tmp_path / "proxy.log.gz"
    path.write_bytes(blob[: len(blob) // 2])
    ev, missing = collect_slowlog(cluster(str(path)), window(T0, T0 + timedelta(minutes=1)), None)
    assert ev is not None and 0 < ev.slow_lines < 3000
    assert len(missing) == 1 and missing[0].what == f"log file {path}" and "read stopped after" in missing[0].reason


def test_same_lines_in_two_files_are_counted_once(tmp_path: Path) -> None:
    lines = [slow(T0 + timedelta(seconds=i), trace=f"{i:032x}") for i in range(7)]
    write(tmp_path / "standalone-1.log", lines)
    write(tmp_path / "milvus-stdout.log", [NOISE.format(ts=ts(T0)), *lines])
    ev, _ = collect_slowlog(cluster(str(tmp_path / "*.log")), window(T0, T0 + timedelta(minutes=1)), None)
    assert ev is not None and ev.slow_lines == 7 and ev.lines_read == 15


def test_sample_is_capped_but_every_request_reaches_the_sinks(tmp_path: Path) -> None:
    n = SAMPLE_SIZE + 50
    lines = [slow(T0 + timedelta(milliseconds=i), dur=f"{5 + i / 1000:.3f}s", trace=f"{i:032x}") for i in range(n)]
    log = write(tmp_path / "p.log", lines)
    a: list[SlowRequest] = []
    b: list[float] = []
    ev, _ = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), None,
                            sinks=[a.append, lambda r: b.append(r.duration_s)])
    assert ev is not None and ev.slow_lines == n and len(a) == n and len(b) == n
    assert len(ev.requests) == SAMPLE_SIZE and ev.truncated
    assert ev.requests[0].duration_s == pytest.approx(5 + (n - 1) / 1000)
    assert min(r.duration_s for r in ev.requests) == pytest.approx(5 + 50 / 1000)


def test_a_failing_sink_is_reported_and_the_others_go_on(tmp_path: Path) -> None:
    log = write(tmp_path / "p.log", [slow(T0 + timedelta(seconds=i), trace=f"{i:032x}") for i in range(5)])
    seen: list[SlowRequest] = []

    def broken(req: SlowRequest) -> None:
        raise KeyError("shape")

    ev, missing = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), None,
                                  sinks=[broken, seen.append])
    assert ev is not None and ev.slow_lines == 5 and len(seen) == 5
    assert len(missing) == 1 and "broken" in missing[0].what and "KeyError" in missing[0].reason


@pytest.mark.parametrize(("version", "threshold", "per_nq"), [
    ("2.3.5", 5.0, False), ("v2.3.5-lite", 5.0, False), ("2.4.4", 5.0, False), ("2.5.4", 5.0, False),
    ("2.5.13", 5.0, True), ("2.6.8", 5.0, True), ("2.6.9", 1.0, True), ("2.6.18", 1.0, True),
])
def test_threshold_by_version(tmp_path: Path, version: str, threshold: float, per_nq: bool) -> None:
    log = write(tmp_path / "p.log", [slow(T0)])
    ev, _ = collect_slowlog(cluster(str(log), version=version), window(T0, T0 + timedelta(minutes=1)), None)
    assert ev is not None and (ev.threshold_s, ev.threshold_per_nq) == (threshold, per_nq)


def test_threshold_inferred_from_the_23_line_format(tmp_path: Path) -> None:
    log = write(tmp_path / "p.log", [slow(T0)])
    ev, _ = collect_slowlog(cluster(str(log)), window(T0, T0 + timedelta(minutes=1)), None)
    assert ev is not None and (ev.threshold_s, ev.threshold_per_nq) == (5.0, False)


def test_threshold_unknown_for_25_format_without_version(tmp_path: Path) -> None:
    line = SHAPES.read_text().splitlines()[12]  # the 2.5.13+ seed line
    log = tmp_path / "p.log"
    shutil.copy(SHAPES, log)
    assert "durationPerNq" in line
    ev, _ = collect_slowlog(cluster(str(log)), window(datetime(2025, 8, 23, tzinfo=UTC),
                                                       datetime(2025, 8, 24, tzinfo=UTC)), "my_repos")
    assert ev is not None and ev.slow_lines == 2
    assert ev.threshold_s is None and ev.threshold_per_nq is True


def test_no_source_configured() -> None:
    src, missing = choose_source(cluster())
    assert src is None and "no log source configured" in missing[0].reason and "milvus_version" in missing[0].reason
    src, missing = choose_source(cluster(version="2.3.5"))
    assert src is None and "has no slow_query endpoint" in missing[0].reason
    ev, missing = collect_slowlog(cluster(version="2.4.4"), WIDE, None)
    assert ev is None and missing[0].source == "slowlog"


def test_25_without_logs_uses_the_proxy_endpoint_derived_from_the_milvus_uri() -> None:
    src, missing = choose_source(cluster(version="2.5.4", milvus=MilvusConfig(uri="http://milvus-proxy.prod:19530")))
    assert missing == [] and isinstance(src, SlowQueryApiSource)
    assert src.base_url == "http://milvus-proxy.prod:9091" and src.derived
    src, missing = choose_source(cluster(version="2.6.1", milvus=MilvusConfig(uri="./demo.db")))
    assert src is None and "Milvus Lite" in missing[0].reason
    src, missing = choose_source(cluster(version="2.6.1"))
    assert src is None and "no milvus.uri" in missing[0].reason


@pytest.mark.parametrize(("uri", "url"), [
    ("http://10.1.2.3:19530", "http://10.1.2.3:9091"),
    ("https://user:pw@milvus.example.com:443", "http://milvus.example.com:9091"),
    ("milvus:19530", "http://milvus:9091"),
    ("tcp://[::1]:19530", "http://[::1]:9091"),
    ("/data/milvus.db", None),
    ("unix:///tmp/milvus.sock", None),
])
def test_derive_url(uri: str, url: str | None) -> None:
    got, why = derive_url(MilvusConfig(uri=uri))
    assert got == url
    assert (why == "") == (url is not None)
