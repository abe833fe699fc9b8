"""Slow-log lines from Loki (`GET /loki/api/v1/query_range`), paginated forward in time.

The LogQL is the configured stream selector plus the line filter |= `slow"` (the same pre-filter
the file scanner uses). A user's collection name is only added as a second line filter when it is
a plain identifier; the exact match is always done here, on the parsed line.

Pagination: Loki returns the first `limit` entries of [start, end) in time order. The next page
starts at the last timestamp seen (inclusive) and drops the entries of that timestamp it already
yielded, so lines sharing a nanosecond across a page boundary are neither lost nor repeated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.config import LokiConfig
from bot.models import Missing, SlowRequest, TimeWindow
from bot.slowlog.parser import MalformedLine, parse_slow_line
from bot.slowlog.sources import COLLECTION_NAME, SourceStats, SourceUnavailable, aware, redact_url

LINE_FILTER = '|= `slow"`'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PAGE_GROWTH = 8  # a page full of one timestamp is re-asked with up to 8x the limit


def to_ns(dt: datetime) -> int:
    """An aware datetime -> Unix nanoseconds, exactly (no float rounding)."""
    return (aware(dt) - _EPOCH) // timedelta(microseconds=1) * 1000


def build_query(selector: str, collection: str | None) -> str:
    """The LogQL sent to Loki. The selector comes from config only; see the module doc for the collection."""
    sel = selector.strip()
    if not sel.startswith("{"):
        raise SourceUnavailable(f"logs.loki.selector must be a LogQL stream selector such as "
                                f'{{app="milvus"}}, not {sel[:60]!r}')
    q = f"{sel} {LINE_FILTER}"
    if collection and COLLECTION_NAME.match(collection):
        q += f" |= `{collection}`"
    return q


class LokiSource:
    def __init__(self, cfg: LokiConfig, client: httpx.Client | None = None) -> None:
        self.cfg = cfg
        self.label = f"loki:{redact_url(cfg.url.rstrip('/'))}"
        self._client = client

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.cfg.token_env:
            token = os.environ.get(self.cfg.token_env)
            if not token:
                raise SourceUnavailable(f"the Loki token variable {self.cfg.token_env} is not set")
            headers["Authorization"] = f"Bearer {token}"
        if self.cfg.org_id:
            headers["X-Scope-OrgID"] = self.cfg.org_id
        return headers

    def iter_requests(self, window: TimeWindow, collection: str | None,
                      stats: SourceStats) -> Iterator[SlowRequest]:
        query = build_query(self.cfg.selector, collection)
        for line in self.iter_lines(query, to_ns(window.start), to_ns(window.end) + 1, stats):
            stats.lines_read += 1
            try:
                req = parse_slow_line(line)
            except MalformedLine as e:
                stats.add_malformed(line, str(e))
                continue
            if req is None:
                continue
            if collection is not None and req.collection != collection:
                stats.other_collection += 1
                continue
            yield req

    def iter_lines(self, query: str, start_ns: int, end_ns: int, stats: SourceStats) -> Iterator[str]:
        """Every line of [start_ns, end_ns) in time order, page by page."""
        headers = self._headers()
        client = self._client or httpx.Client(timeout=self.cfg.timeout_s)
        limit = max(1, self.cfg.page_limit)
        cur = start_ns
        done_at_cur: set[tuple[frozenset[tuple[str, str]], str]] = set()  # (stream, line) yielded at ts == cur
        total = 0
        try:
            while cur < end_ns:
                page = self._page(client, headers, query, cur, end_ns, limit, first=total == 0)
                fresh = [e for e in page if not (e[0] == cur and (e[1], e[2]) in done_at_cur)]
                for _, _, line in fresh:
                    total += 1
                    yield line
                    if total >= self.cfg.max_lines:
                        stats.missing.append(Missing(
                            source="slowlog", what="Loki lines",
                            reason=f"stopped after {total} lines (logs.loki.max_lines); later lines of the window "
                                   "were not read",
                        ))
                        return
                if len(page) < limit:
                    return  # Loki had no more
                last = page[-1][0]
                if last == cur:
                    if not fresh:
                        # A full page of one nanosecond we have all seen: ask for more at once, then give up on it.
                        if limit < self.cfg.page_limit * MAX_PAGE_GROWTH:
                            limit *= 2
                            continue
                        stats.missing.append(Missing(
                            source="slowlog", what="Loki lines",
                            reason=f"more than {limit} lines share the timestamp {cur} ns; some were skipped",
                        ))
                        cur, done_at_cur, limit = cur + 1, set(), max(1, self.cfg.page_limit)
                        continue
                    done_at_cur |= {(e[1], e[2]) for e in page}
                else:
                    cur = last
                    done_at_cur = {(e[1], e[2]) for e in page if e[0] == last}
                    limit = max(1, self.cfg.page_limit)
        finally:
            if self._client is None:
                client.close()

    def _page(self, client: httpx.Client, headers: dict[str, str], query: str, start_ns: int, end_ns: int,
              limit: int, first: bool) -> list[tuple[int, frozenset[tuple[str, str]], str]]:
        params = {"query": query, "start": str(start_ns), "end": str(end_ns), "limit": str(limit),
                  "direction": "forward"}
        url = self.cfg.url.rstrip("/") + "/loki/api/v1/query_range"
        where = "" if first else " (after some pages were read)"
        try:
            resp = client.get(url, params=params, headers=headers, timeout=self.cfg.timeout_s)
        except httpx.TimeoutException as e:
            raise SourceUnavailable(f"Loki did not answer within {self.cfg.timeout_s:g}s{where}") from e
        except httpx.HTTPError as e:
            raise SourceUnavailable(f"cannot reach Loki at {redact_url(self.cfg.url)}: "
                                    f"{type(e).__name__}{where}") from e
        if resp.status_code != 200:
            body = " ".join(resp.text.split())[:200]
            raise SourceUnavailable(f"Loki answered HTTP {resp.status_code}{where}: {body}")
        try:
            doc: Any = resp.json()
        except ValueError as e:
            raise SourceUnavailable(f"Loki's answer is not JSON{where}") from e
        return _entries(doc)


def _entries(doc: Any) -> list[tuple[int, frozenset[tuple[str, str]], str]]:
    """A query_range answer -> [(ts_ns, stream labels, line)] sorted by time (streams merged)."""
    if not isinstance(doc, dict) or doc.get("status") != "success":
        raise SourceUnavailable(f"unexpected Loki answer: status {doc.get('status') if isinstance(doc, dict) else '?'}")
    data = doc.get("data") or {}
    if data.get("resultType") != "streams":
        raise SourceUnavailable(f"unexpected Loki resultType {data.get('resultType')!r} (want 'streams')")
    out: list[tuple[int, frozenset[tuple[str, str]], str]] = []
    for stream in data.get("result") or []:
        labels = frozenset((str(k), str(v)) for k, v in (stream.get("stream") or {}).items())
        for value in stream.get("values") or []:
            try:
                out.append((int(value[0]), labels, str(value[1])))
            except (TypeError, ValueError, IndexError) as e:
                raise SourceUnavailable(f"unexpected Loki entry {str(value)[:80]!r}") from e
    out.sort(key=lambda e: e[0])
    return out
