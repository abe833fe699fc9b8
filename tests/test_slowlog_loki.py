"""collect_slowlog against (the fake) Loki: pagination, equal timestamps, failures, auth, LogQL safety."""

from __future__ import annotations

import itertools
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ClusterConfig, LogsConfig, LokiConfig
from bot.models import SlowRequest, TimeWindow
from bot.slowlog.collect import collect_slowlog
from bot.slowlog.sources.loki import build_query, to_ns
from tests.fixtures.loki import FakeLoki, parse_logql
from tests.test_slowlog_files import GC, NOISE, slow, ts

T0 = datetime(2026, 11, 24, 15, 0, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(minutes=30))
PROXY = {"namespace": "milvus", "app": "milvus", "component": "proxy"}
SELECTOR = '{namespace="milvus", app="milvus", component="proxy"}'
SHAPES = Path(__file__).parent / "data" / "slowlog" / "shapes.log"


def cluster(loki: FakeLoki, **kw: object) -> ClusterConfig:
    cfg = LokiConfig(url=loki.url, selector=SELECTOR, timeout_s=5, **kw)  # type: ignore[arg-type]
    return ClusterConfig(name="c1", logs=LogsConfig(loki=cfg), milvus_version="2.3.5")


def ns(t: datetime) -> int:
    return to_ns(t)


def entries(n: int, start: datetime = T0, step: timedelta = timedelta(seconds=1), coll: str = "hs_hnsw",
            prefix: int = 0) -> list[tuple[int, str]]:
    out = []
    for i in range(n):
        t = start + i * step
        out.append((ns(t), slow(t, coll=coll, trace=f"{prefix + i:032x}", dur=f"{5 + i}s")))
    return out


def test_to_ns_is_exact() -> None:
    assert to_ns(datetime(2026, 11, 24, 15, 0, 0, 123456, tzinfo=UTC)) == 1795532400123456000


def test_paginates_over_streams_in_time_order(loki: FakeLoki) -> None:
    a = entries(12, step=timedelta(seconds=2))
    b = entries(11, start=T0 + timedelta(seconds=1), step=timedelta(seconds=2), prefix=100)
    loki.push(PROXY, a)
    loki.push({**PROXY, "pod": "proxy-2"}, b)
    loki.push({"app": "other"}, entries(5, prefix=500))  # another app's stream: not selected
    loki.push(PROXY, [(ns(T0 + timedelta(seconds=3)), NOISE.format(ts=ts(T0)))])  # filtered by |= slow"
    got: list[SlowRequest] = []
    ev, missing = collect_slowlog(cluster(loki, page_limit=5), WINDOW, None, sinks=[got.append])
    assert missing == [] and ev is not None
    assert ev.slow_lines == 23 and ev.lines_read == 23 and ev.source == f"loki:{loki.url}"
    assert [r.time for r in got] == sorted(r.time for r in got)
    assert len({r.trace_id for r in got}) == 23
    pages = loki.requests
    assert len(pages) == 6  # 5 new lines, then 4 per page (each page re-reads the last timestamp): 5+4*4+2
    first = pages[0]["params"]
    assert first["query"] == SELECTOR + ' |= `slow"`'
    assert (first["direction"], first["limit"]) == ("forward", "5")
    assert int(first["start"]) == ns(T0) and int(first["end"]) == ns(WINDOW.end) + 1
    assert all(int(p["params"]["start"]) >= int(q["params"]["start"]) for q, p in itertools.pairwise(pages))


def test_equal_timestamps_at_a_page_boundary(loki: FakeLoki) -> None:
    same = T0 + timedelta(seconds=10)
    data = entries(4) + [(ns(same), slow(same, trace=f"{900 + i:032x}")) for i in range(5)] + \
        entries(3, start=T0 + timedelta(seconds=20), prefix=50)
    loki.push(PROXY, data[:6])
    loki.push({**PROXY, "pod": "p2"}, data[6:])
    ev, missing = collect_slowlog(cluster(loki, page_limit=5), WINDOW, None)
    assert missing == [] and ev is not None
    assert ev.slow_lines == 12
    assert sorted(r.trace_id or "" for r in ev.requests) == sorted(
        [f"{i:032x}" for i in range(4)] + [f"{900 + i:032x}" for i in range(5)] + [f"{50 + i:032x}" for i in range(3)])


def test_more_lines_at_one_timestamp_than_a_page(loki: FakeLoki) -> None:
    same = T0 + timedelta(seconds=5)
    loki.push(PROXY, [(ns(same), slow(same, trace=f"{i:032x}")) for i in range(7)] + entries(2, start=T0 + timedelta(minutes=1), prefix=70))
    ev, missing = collect_slowlog(cluster(loki, page_limit=3), WINDOW, None)
    assert missing == [] and ev is not None and ev.slow_lines == 9
    assert len({r.trace_id for r in ev.requests}) == 9
    assert max(int(r["params"]["limit"]) for r in loki.requests) > 3  # it asked for a bigger page


def test_5xx_on_the_first_page_is_missing(loki: FakeLoki) -> None:
    loki.push(PROXY, entries(3))
    loki.fail_status = 503
    ev, missing = collect_slowlog(cluster(loki), WINDOW, None)
    assert ev is None
    assert len(missing) == 1 and missing[0].source == "slowlog" and missing[0].what == f"loki:{loki.url}"
    assert "Loki answered HTTP 503" in missing[0].reason and "too many outstanding requests" in missing[0].reason


def test_5xx_after_some_pages_keeps_what_was_read(loki: FakeLoki) -> None:
    loki.push(PROXY, entries(20))
    loki.fail_status, loki.fail_after = 502, 2
    ev, missing = collect_slowlog(cluster(loki, page_limit=4), WINDOW, None)
    assert ev is not None and ev.slow_lines == 7  # 4, then 3 new (the next page starts at the 4th's timestamp)
    assert len(missing) == 1 and "HTTP 502 (after some pages were read)" in missing[0].reason


def test_timeout_is_missing() -> None:
    with socket.socket() as sock:  # accepts the connection, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        cfg = LokiConfig(url=f"http://127.0.0.1:{port}", selector=SELECTOR, timeout_s=0.3)
        ev, missing = collect_slowlog(ClusterConfig(name="c", logs=LogsConfig(loki=cfg)), WINDOW, None)
    assert ev is None and "Loki did not answer within 0.3s" in missing[0].reason


def test_connection_refused_is_missing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = LokiConfig(url=f"http://127.0.0.1:{port}", selector=SELECTOR, timeout_s=1)
    ev, missing = collect_slowlog(ClusterConfig(name="c", logs=LogsConfig(loki=cfg)), WINDOW, None)
    assert ev is None and "cannot reach Loki" in missing[0].reason


def test_bearer_token_and_tenant_header(loki: FakeLoki, monkeypatch: pytest.MonkeyPatch) -> None:
    loki.push(PROXY, entries(2))
    loki.token = "s3cret-token"
    monkeypatch.setenv("LOKI_TOKEN_TEST", "s3cret-token")
    ev, missing = collect_slowlog(cluster(loki, token_env="LOKI_TOKEN_TEST", org_id="tenant-a"), WINDOW, None)
    assert missing == [] and ev is not None and ev.slow_lines == 2
    assert loki.requests[0]["headers"]["x-scope-orgid"] == "tenant-a"

    monkeypatch.setenv("LOKI_TOKEN_TEST", "wrong")
    ev, missing = collect_slowlog(cluster(loki, token_env="LOKI_TOKEN_TEST"), WINDOW, None)
    assert ev is None and "HTTP 401" in missing[0].reason and "wrong" not in missing[0].reason

    monkeypatch.delenv("LOKI_TOKEN_TEST")
    before = len(loki.requests)
    ev, missing = collect_slowlog(cluster(loki, token_env="LOKI_TOKEN_TEST"), WINDOW, None)
    assert ev is None and "LOKI_TOKEN_TEST is not set" in missing[0].reason
    assert len(loki.requests) == before  # nothing was sent without the token


def test_collection_goes_into_logql_only_when_it_is_an_identifier(loki: FakeLoki) -> None:
    loki.push(PROXY, entries(3, coll="products") + entries(4, start=T0 + timedelta(minutes=1), coll="other", prefix=10))
    ev, _ = collect_slowlog(cluster(loki), WINDOW, "products")
    assert ev is not None and ev.slow_lines == 3 and {r.collection for r in ev.requests} == {"products"}
    assert loki.requests[-1]["params"]["query"] == SELECTOR + ' |= `slow"` |= `products`'

    evil = 'x` or {app=~".+"} |= `'
    ev, missing = collect_slowlog(cluster(loki), WINDOW, evil)
    assert ev is not None and ev.slow_lines == 0 and missing == []
    assert loki.requests[-1]["params"]["query"] == SELECTOR + ' |= `slow"`'
    assert build_query(SELECTOR, 'a"b') == SELECTOR + ' |= `slow"`'
    parse_logql(build_query(SELECTOR, "products"))  # the fake's parser accepts what we send


def test_a_selector_that_is_not_one_is_reported(loki: FakeLoki) -> None:
    cfg = LokiConfig(url=loki.url, selector='app="milvus"')
    ev, missing = collect_slowlog(ClusterConfig(name="c", logs=LogsConfig(loki=cfg)), WINDOW, None)
    assert ev is None and "stream selector" in missing[0].reason and loki.requests == []


def test_every_line_shape_and_noise_through_loki(loki: FakeLoki) -> None:
    lines = SHAPES.read_text().splitlines()
    loki.push(PROXY, [(ns(T0) + i, line) for i, line in enumerate(lines)])
    loki.push(PROXY, [(ns(T0) + 100, GC.format(ts=ts(T0))), (ns(T0) + 101, slow(T0)[:-20])])
    ev, _ = collect_slowlog(cluster(loki, page_limit=4), WINDOW, None)
    assert ev is not None
    assert ev.slow_lines == 13 and ev.lines_read == 17  # Loki returns only the lines with `slow"`
    assert ev.malformed == 1 and ev.malformed_samples[0].startswith("truncated")
    assert {r.fmt for r in ev.requests} == {"text", "json"}


def test_max_lines_stops_and_says_so(loki: FakeLoki) -> None:
    loki.push(PROXY, entries(30))
    ev, missing = collect_slowlog(cluster(loki, page_limit=7, max_lines=10), WINDOW, None)
    assert ev is not None and ev.slow_lines == 10
    assert len(missing) == 1 and "stopped after 10 lines" in missing[0].reason


def test_credentials_in_the_url_never_show(loki: FakeLoki) -> None:
    loki.push(PROXY, entries(2))
    url = loki.url.replace("http://", "http://reader:hunter2@")
    cfg = LokiConfig(url=url, selector=SELECTOR, timeout_s=5)
    ev, missing = collect_slowlog(ClusterConfig(name="c", logs=LogsConfig(loki=cfg)), WINDOW, None)
    assert ev is not None and ev.slow_lines == 2 and ev.source == f"loki:{loki.url}"
    assert loki.requests[-1]["headers"]["authorization"].startswith("Basic ")  # httpx sent them as basic auth
    loki.fail_status = 500
    ev, missing = collect_slowlog(ClusterConfig(name="c", logs=LogsConfig(loki=cfg)), WINDOW, None)
    assert ev is None and "hunter2" not in repr(missing) and missing[0].what == f"loki:{loki.url}"
