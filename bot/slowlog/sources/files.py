"""Slow-log lines from local log files: one or more globs, plain or gzip'd (rotated `*.gz`).

Files last written before the window starts are skipped unread. Each file is read in chunks by
`scan_slow_lines`, so memory stays flat whatever the file size; a candidate line's time is peeked
before it is parsed, so lines outside the window cost almost nothing.
"""

from __future__ import annotations

import glob
import gzip
import os
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from bot.models import Missing, SlowRequest, TimeWindow
from bot.slowlog.parser import MalformedLine, ScanStats, parse_slow_line, peek_time, scan_slow_lines
from bot.slowlog.sources import COLLECTION_NAME, SourceStats, SourceUnavailable, aware

# With several files, the same line can be read twice (the PyPI Milvus writes every line to its
# role log *and* milvus-stdout.log). Hashes of in-window slow lines are kept to drop the second
# copy, up to this many (a few MB); past it, duplicates are no longer detected and we say so.
DEDUPE_MAX = 200_000


class FileSource:
    def __init__(self, patterns: str | list[str]) -> None:
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.label = "files:" + ",".join(self.patterns)

    def paths(self) -> list[Path]:
        """Every regular file the globs match (`~` expanded, `**` recursive), without repeats."""
        seen: dict[str, Path] = {}
        for pat in self.patterns:
            for name in glob.glob(os.path.expanduser(pat), recursive=True):
                p = Path(name)
                if p.is_file():
                    seen.setdefault(str(p.resolve()), p)
        return list(seen.values())

    def iter_requests(self, window: TimeWindow, collection: str | None,
                      stats: SourceStats) -> Iterator[SlowRequest]:
        start, end = aware(window.start), aware(window.end)
        paths = self.paths()
        if not paths:
            raise SourceUnavailable(f"no file matches {', '.join(self.patterns)}")
        fresh: list[tuple[float, Path]] = []
        newest: tuple[float, Path] | None = None
        for p in paths:
            try:
                mtime = p.stat().st_mtime
            except OSError:
                continue
            if newest is None or mtime > newest[0]:
                newest = (mtime, p)
            if mtime >= start.timestamp():
                fresh.append((mtime, p))
        if not fresh:
            when = datetime.fromtimestamp(newest[0], UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if newest else "?"
            raise SourceUnavailable(
                f"no log file was written since the window start ({start:%Y-%m-%d %H:%M:%S %Z}); "
                f"the newest, {newest[1] if newest else '?'}, was last written {when}"
            )
        fresh.sort(key=lambda mp: (mp[0], str(mp[1])))
        ctx = _Filter(start, end, collection, dedupe=len(fresh) > 1, stats=stats)
        for _, p in fresh:
            try:
                stream = _open(p)
            except OSError as e:
                stats.missing.append(Missing(source="slowlog", what=f"log file {p}", reason=_os_reason(e)))
                continue
            scan = ScanStats()
            try:
                with stream:
                    for line in scan_slow_lines(stream, scan):
                        req = ctx.take(line)
                        if req is not None:
                            yield req
            except (OSError, EOFError, zlib.error) as e:
                # A truncated .gz or a file removed mid-read: keep what was read, say what was not.
                stats.missing.append(Missing(source="slowlog", what=f"log file {p}",
                                             reason=f"read stopped after {scan.bytes} bytes: {_os_reason(e)}"))
            finally:
                stats.lines_read += scan.lines
                stats.files_read.append(str(p))
                if scan.overlong:
                    stats.add_malformed(b"", f"{scan.overlong} line(s) longer than the 8 MiB limit in {p.name}")
                    stats.malformed += scan.overlong - 1
        if ctx.dedupe_full:
            stats.missing.append(Missing(
                source="slowlog", what="duplicate check",
                reason=f"more than {DEDUPE_MAX} slow lines in the window: lines present in two files "
                       "(e.g. a role log and milvus-stdout.log) may be counted twice",
            ))


class _Filter:
    """Window, collection and duplicate filtering of candidate lines, cheapest test first."""

    def __init__(self, start: datetime, end: datetime, collection: str | None, dedupe: bool,
                 stats: SourceStats) -> None:
        self.start, self.end, self.collection, self.stats = start, end, collection, stats
        self.seen: set[int] | None = set() if dedupe else None
        self.dedupe_full = False
        # A byte test that rules most other collections out before parsing (exact check follows).
        self.needles: tuple[bytes, bytes] | None = None
        if collection and COLLECTION_NAME.match(collection):
            c = collection.encode()
            self.needles = (b"[collection=" + c + b"]", b'"collection":"' + c + b'"')

    def take(self, line: bytes) -> SlowRequest | None:
        st = self.stats
        t = peek_time(line)
        if t is not None and not (self.start <= t <= self.end):
            st.out_of_window += 1
            return None
        if self.needles is not None and self.needles[0] not in line and self.needles[1] not in line:
            if _is_slow_request(line):
                st.other_collection += 1
            return None
        try:
            req = parse_slow_line(line, known_time=t)
        except MalformedLine as e:
            st.add_malformed(line, str(e))
            return None
        if req is None:
            return None  # "the gc is slow" and other lines that only look alike
        if t is None and not (req.time is not None and self.start <= aware(req.time) <= self.end):
            st.out_of_window += 1
            return None
        if self.collection is not None and req.collection != self.collection:
            st.other_collection += 1
            return None
        if self.seen is not None:
            h = hash(line)
            if h in self.seen:
                st.duplicates += 1
                return None
            if len(self.seen) < DEDUPE_MAX:
                self.seen.add(h)
            else:
                self.dedupe_full = True
        return req


def _is_slow_request(line: bytes) -> bool:
    return b'Search slow"' in line or b'Query slow"' in line


def _open(p: Path) -> BinaryIO:
    if p.suffix == ".gz":
        return _Gunzip(p)  # type: ignore[return-value]
    return open(p, "rb", buffering=0)


class _Gunzip:
    """gzip read with read1, so that a truncated .gz still yields every line before the damage
    (GzipFile.read(n) raises and drops the n bytes it had gathered)."""

    def __init__(self, path: Path) -> None:
        self._f = gzip.open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__

    def read(self, n: int = -1) -> bytes:
        return self._f.read1(n)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> _Gunzip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _os_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return f"{type(e).__name__}: {e}"
