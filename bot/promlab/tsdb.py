"""Turn an OpenMetrics file into TSDB blocks with the real `promtool`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = (
    "install the Prometheus server and promtool: `apt-get install prometheus` (Debian/Ubuntu), "
    "or put the `prometheus` and `promtool` binaries from https://prometheus.io/download/ on PATH"
)


class PromlabError(RuntimeError):
    """The lab could not build a TSDB or start Prometheus; the message says what to do."""


def find_binary(name: str) -> str:
    """`/usr/bin/<name>` or `<name>` on PATH, else a PromlabError with the install command."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
    if not found:
        raise PromlabError(f"{name} not found: {INSTALL_HINT}")
    return found


def create_blocks(openmetrics_file: str | Path, tsdb_dir: str | Path, timeout_s: float = 120.0) -> Path:
    """Run `promtool tsdb create-blocks-from openmetrics FILE DIR`; returns DIR.

    Blocks are immutable, so one TSDB can be copied (shutil.copytree) to start several servers.
    """
    promtool = find_binary("promtool")
    out = Path(tsdb_dir)
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics_file), str(out)],
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )
    if proc.returncode != 0:
        raise PromlabError(
            f"promtool create-blocks-from openmetrics {openmetrics_file} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return out
