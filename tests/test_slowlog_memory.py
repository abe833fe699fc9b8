"""Memory stays flat in file size: a generated 200 MB log is collected in a child process whose
peak RSS (ru_maxrss) may grow by less than 50 MB while it reads the whole file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.test_slowlog_files import NOISE, slow, ts

T0 = datetime(2026, 11, 24, 15, 0, 0, tzinfo=UTC)
SIZE = 200 << 20
LIMIT_KB = 50 << 10

CHILD = r"""
import json, resource, sys
from datetime import datetime
from bot.config import ClusterConfig, LogsConfig
from bot.models import TimeWindow
from bot.slowlog.collect import collect_slowlog
from bot.slowlog.parser import _accelerators, parse_slow_line

path, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
_accelerators()  # numpy and ctypes are loaded before the baseline
with open(path, "rb") as f:
    head = f.read(1 << 16)
for line in head.splitlines()[:-1]:
    parse_slow_line(line)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = [0]
ev, missing = collect_slowlog(
    ClusterConfig(name="m", logs=LogsConfig(files=path)),
    TimeWindow(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end)),
    None, sinks=[lambda r: count.__setitem__(0, count[0] + 1)])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "lines": ev.lines_read, "slow": ev.slow_lines,
                  "sink": count[0], "kept": len(ev.requests), "missing": [m.reason for m in missing]}))
"""


def _generate(path: Path) -> tuple[int, int]:
    """~200 MB: blocks of 99 ordinary lines and 1 slow line, written 8 MB at a time."""
    lines = []
    for i in range(100):
        t = T0 + timedelta(milliseconds=10 * i)
        lines.append(slow(t, trace=f"{i:032x}", dur=f"{5 + i % 7}.25s") if i == 57 else NOISE.format(ts=ts(t)))
    block = ("\n".join(lines) + "\n").encode()
    big = block * ((8 << 20) // len(block))
    written = 0
    with open(path, "wb") as f:
        while written < SIZE:
            f.write(big)
            written += len(big)
    blocks = written // len(block)
    return blocks * 100, blocks


def test_200mb_log_memory_stays_flat(tmp_path: Path) -> None:
    path = tmp_path / "standalone.log"
    n_lines, n_slow = _generate(path)
    assert path.stat().st_size >= SIZE
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), T0.isoformat(), (T0 + timedelta(minutes=5)).isoformat()],
        capture_output=True, text=True, timeout=120, cwd=root, check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["lines"] == n_lines and res["slow"] == n_slow and res["sink"] == n_slow
    assert res["kept"] == 200 and res["missing"] == []
    growth = res["after_kb"] - res["before_kb"]
    assert growth < LIMIT_KB, f"peak RSS grew by {growth} KB reading {path.stat().st_size >> 20} MB"
