"""Run the real Prometheus server on a free loopback port, over a given TSDB and/or scrape targets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from bot.promlab.tsdb import PromlabError, find_binary


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_job(job: str, targets: list[str], labels: dict[str, str] | None = None,
               interval: str = "5s", metrics_path: str = "/metrics") -> dict[str, Any]:
    """One `scrape_configs` entry, e.g. scrape_job("milvus", ["127.0.0.1:9091"], {"namespace": "test"})."""
    static: dict[str, Any] = {"targets": list(targets)}
    if labels:
        static["labels"] = dict(labels)
    return {"job_name": job, "scrape_interval": interval, "metrics_path": metrics_path,
            "static_configs": [static]}


class PrometheusServer:
    """`with PrometheusServer(tsdb_dir) as prom: prom.url` -> "http://127.0.0.1:PORT".

    * tsdb_dir: the storage directory (blocks from `create_blocks`, or empty for scraping); a
      temporary one is made and removed when omitted.
    * scrape_configs: a list of scrape jobs (see `scrape_job`); none by default, so a backfilled
      TSDB is served as is.
    * Retention is 100 years so backfilled blocks far in the past are never deleted.
    * Logs go to `<workdir>/prometheus.log`; `stop()` sends SIGTERM, then SIGKILL after `stop_timeout_s`.
    * start() / stop() may be called again (a stopped server can be restarted on the same port).
    """

    def __init__(self, tsdb_dir: str | Path | None = None, *, port: int | None = None,
                 scrape_configs: list[dict[str, Any]] | None = None, scrape_interval: str = "15s",
                 extra_args: list[str] | None = None, ready_timeout_s: float = 30.0,
                 stop_timeout_s: float = 15.0, binary: str | None = None) -> None:
        self.binary = binary or find_binary("prometheus")
        self._tmp = tempfile.TemporaryDirectory(prefix="promlab-") if tsdb_dir is None else None
        base = Path(self._tmp.name) if self._tmp else Path(tsdb_dir).resolve().parent
        self.tsdb_dir = Path(self._tmp.name) / "tsdb" if self._tmp else Path(tsdb_dir).resolve()
        self.tsdb_dir.mkdir(parents=True, exist_ok=True)
        self.workdir = base
        self.port = port or free_port()
        self.scrape_configs = scrape_configs or []
        self.scrape_interval = scrape_interval
        self.extra_args = extra_args or []
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.config_path = self.workdir / f"prometheus-{self.port}.yml"
        self.log_path = self.workdir / f"prometheus-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def write_config(self) -> Path:
        cfg = {"global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
               "scrape_configs": self.scrape_configs}
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        return self.config_path

    def start(self) -> PrometheusServer:
        if self.running:
            return self
        self.write_config()
        args = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.tsdb_dir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir, start_new_session=True)
        finally:
            log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PromlabError(f"prometheus exited with code {self.proc.returncode} before it was ready; "
                                   f"last log lines:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PromlabError(f"prometheus not ready on {self.url} after {self.ready_timeout_s:.0f}s; "
                           f"last log lines:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
