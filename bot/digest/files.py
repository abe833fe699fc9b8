"""Digest log files: plain or gzip, whole or narrowed to a window, in one process or several.

A large plain file is cut into byte ranges that start and end on line boundaries, and each range is
scanned, parsed and digested by its own worker process (like pgBadger's `-j`); the workers' builders
are then merged in file order. Gzip streams cannot be split, so each is one task.
"""

from __future__ import annotations

import gzip
import itertools
import math
import multiprocessing
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from bot.digest.builder import DigestBuilder
from bot.slowlog.parser import MalformedLine, ScanStats, parse_slow_line, peek_time, scan_slow_lines

if TYPE_CHECKING:  # only for annotations: bot.models would import pydantic
    from bot.models import TimeWindow

MIN_SPLIT_BYTES = 64 << 20  # files smaller than this are never split
AUTO_JOBS_BYTES = 256 << 20  # with jobs="auto", use several processes only from this much plain input
MAX_AUTO_JOBS = 4


@dataclass(slots=True)
class FileTask:
    path: str
    start: int = 0
    end: int | None = None  # None: to the end of the stream


@dataclass(slots=True)
class FileResult:
    builder: DigestBuilder
    lines: int
    candidates: int
    overlong: int
    bytes: int
    malformed: int


def is_gzip(path: str) -> bool:
    if path == "-":
        return False
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


@contextmanager
def open_log(path: str) -> Iterator[BinaryIO]:
    """A log file as a binary stream: '-' is stdin, gzip is recognised by its magic bytes."""
    if path == "-":
        yield sys.stdin.buffer
        return
    if is_gzip(path):
        with gzip.open(path, "rb") as gz:
            yield gz  # type: ignore[misc]
        return
    with open(path, "rb") as raw:
        yield raw


class _Range:
    """Reads bytes [start, end) of a file: what scan_slow_lines needs (`read(n)`)."""

    def __init__(self, f: BinaryIO, start: int, end: int) -> None:
        f.seek(start)
        self._f = f
        self._left = end - start

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._f.read(self._left if n < 0 else min(n, self._left))
        self._left -= len(data)
        return data


def plan(paths: list[str], jobs: int, min_split: int = MIN_SPLIT_BYTES) -> list[FileTask]:
    """Tasks covering every byte of every file once; plain files of min_split bytes or more are cut
    into `jobs` ranges at line starts."""
    tasks: list[FileTask] = []
    for path in paths:
        if jobs <= 1 or path == "-" or is_gzip(path):
            tasks.append(FileTask(path))
            continue
        size = os.path.getsize(path)
        if size < min_split:
            tasks.append(FileTask(path))
            continue
        cuts = [0]
        with open(path, "rb") as f:
            for k in range(1, jobs):
                f.seek(max(cuts[-1], size * k // jobs))
                f.readline()  # the line under the cut belongs to the range before it
                pos = f.tell()
                if pos < size and pos > cuts[-1]:
                    cuts.append(pos)
        cuts.append(size)
        tasks += [FileTask(path, a, b) for a, b in itertools.pairwise(cuts)]
    return tasks


def run_task(task: FileTask, window: TimeWindow | None, collection: str | None,
             builder: DigestBuilder) -> FileResult:
    """Scan, parse and digest one task into `builder`."""
    stats = ScanStats()
    malformed = 0
    add = builder.add
    if task.end is None:
        with open_log(task.path) as stream:
            malformed = _feed(stream, stats, window, collection, add)
    else:
        with open(task.path, "rb") as f:
            malformed = _feed(_Range(f, task.start, task.end), stats, window, collection, add)  # type: ignore[arg-type]
    return FileResult(builder, stats.lines, stats.candidates, stats.overlong, stats.bytes, malformed)


def _feed(stream: BinaryIO, stats: ScanStats, window: TimeWindow | None, collection: str | None,
          add: object) -> int:
    malformed = 0
    sink = add  # bound method, looked up once
    for line in scan_slow_lines(stream, stats):
        t = None
        if window is not None:
            t = peek_time(line)
            if t is not None and not (window.start <= t <= window.end):
                continue
        try:
            req = parse_slow_line(line, known_time=t)
        except MalformedLine:
            malformed += 1
            continue
        if req is None:
            continue
        if collection is not None and req.collection != collection:
            continue
        if window is not None and req.time is not None and not (window.start <= req.time <= window.end):
            continue
        sink(req)  # type: ignore[operator]
    return malformed


# Worker-side state, set once per process by the pool initializer.
_WORKER: dict[str, object] = {}


def _init_worker(window: TimeWindow | None, collection: str | None, top: int, max_shapes: int) -> None:
    _WORKER.update(window=window, collection=collection, top=top, max_shapes=max_shapes)


def _work(task: FileTask) -> FileResult:
    builder = DigestBuilder(top=_WORKER["top"], max_shapes=_WORKER["max_shapes"])  # type: ignore[arg-type]
    return run_task(task, _WORKER["window"], _WORKER["collection"], builder)  # type: ignore[arg-type]


def resolve_jobs(jobs: int | str, paths: list[str]) -> int:
    """'auto' -> several processes only for large plain input and only as many as there are idle
    cores (workers on busy cores are slower than one process: measured in bench/digest.py);
    an int is taken as given (>= 1)."""
    if jobs != "auto":
        return max(1, int(jobs))
    plain = sum(os.path.getsize(p) for p in paths if p != "-" and not is_gzip(p))
    if plain < AUTO_JOBS_BYTES:
        return 1
    cpus = os.cpu_count() or 1
    try:
        idle = cpus - os.getloadavg()[0]
    except OSError:  # no load average on this platform
        idle = float(cpus)
    # A core that is mostly idle (load 0.6 on 2 cores) still pays for a second worker: measured 1.5x.
    return max(1, min(MAX_AUTO_JOBS, cpus, math.ceil(idle - 0.25)))


def digest_files(paths: list[str], window: TimeWindow | None, collection: str | None,
                 builder: DigestBuilder, jobs: int = 1, min_split: int = MIN_SPLIT_BYTES) -> tuple[ScanStats, int]:
    """Feed every slow-request line of the files to `builder` -> (scan stats, malformed lines).

    With jobs > 1, tasks run in worker processes and their builders are merged into `builder`
    in file order, so the result does not depend on which worker finished first.
    """
    tasks = plan(paths, jobs, min_split)
    stats = ScanStats()
    malformed = 0
    if jobs <= 1 or len(tasks) <= 1 or "-" in paths:
        results: Iterator[FileResult] = (run_task(t, window, collection, builder) for t in tasks)
        for r in results:
            _count(stats, r)
            malformed += r.malformed
        return stats, malformed
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(min(jobs, len(tasks)), initializer=_init_worker,
                  initargs=(window, collection, builder.top, builder.max_shapes)) as pool:
        for r in pool.imap(_work, tasks):
            builder.merge(r.builder)
            _count(stats, r)
            malformed += r.malformed
    return stats, malformed


def _count(stats: ScanStats, r: FileResult) -> None:
    stats.lines += r.lines
    stats.candidates += r.candidates
    stats.overlong += r.overlong
    stats.bytes += r.bytes
