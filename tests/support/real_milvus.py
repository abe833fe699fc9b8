"""Run the real Milvus 2.3.5 standalone server from the PyPI wheel `milvus==2.3.5`, for tests.

The wheel ships a real `milvus` binary (LZMA-packed) and a config template. We run the binary
ourselves instead of `milvus.default_server` because that object kills the server from `__del__`,
binds its port probes without SO_REUSEADDR, and stops with a 1 s grace period.

What this runner does:
* unpacks the binaries once into a cache directory (md5-checked by the wheel's own helper, under a
  file lock so parallel test sessions do not race),
* renders `configs/milvus.yaml` from the wheel's template with free ports (so two servers, or an old
  one in TIME_WAIT, do not collide) and `common.gracefulStopTimeout: 10` (the template's 1800 makes
  SIGTERM hang on the query node's hand-off),
* starts `milvus run standalone` in its own session with METRICS_PORT, MILVUSCONF, LD_LIBRARY_PATH
  and cwd set, waits for `/healthz`, and stops it with SIGTERM then SIGKILL.

Note: 2.3.5 listens on all interfaces for its gRPC ports whatever the config says (only etcd binds
127.0.0.1); tests only ever connect to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import util as importlib_util
from pathlib import Path

WHEEL_REQUIREMENT = "milvus==2.3.5"
GRACEFUL_STOP_TIMEOUT_S = 10
# Placeholders in the wheel's template that name a listening port.
_PORT_KEYS = (
    "etcd_port", "root_coord_port", "proxy_port", "proxy_internal_port", "query_coord_port",
    "query_node_port", "index_coord_port", "index_node_port", "data_coord_port", "data_node_port",
)
# `{{ key }}`, `{{ key: default }}`, `{{ key(type): default }}`: the wheel's own mini template syntax.
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*(?:\(\w+\))?\s*(?::\s*([^}]*?))?\s*\}\}")


class RealMilvusError(RuntimeError):
    """The server could not be started; the message carries the tail of its logs."""


def wheel_available() -> bool:
    return importlib_util.find_spec("milvus") is not None


def _wheel_data_dir() -> Path:
    spec = importlib_util.find_spec("milvus")
    if spec is None or spec.origin is None:
        raise RealMilvusError(f"the {WHEEL_REQUIREMENT} wheel is not installed (pip install '{WHEEL_REQUIREMENT}')")
    return Path(spec.origin).parent / "data"


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "milvus-triage" / "milvus-2.3.5"


def unpack_binaries(cache_dir: Path | None = None) -> Path:
    """Unpack the wheel's binaries once (about 5 s); later calls only compare md5 sums. Returns the bin dir."""
    import milvus  # the wheel's module; importing it only defines objects, it starts nothing

    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            milvus._initialize_data_files(str(cache))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return cache / "bin"


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held open together so they are distinct)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def render_config(template: str, values: dict[str, object], overrides: dict[str, object] | None = None) -> str:
    """Fill the wheel's template (placeholders without a value keep their default), then set
    `overrides` (dotted keys) and the short graceful stop."""

    def sub(m: re.Match[str]) -> str:
        key, default = m.group(1), m.group(2)
        if key in values:
            v = values[key]
            return ("true" if v else "false") if isinstance(v, bool) else str(v)
        if default is None:
            raise RealMilvusError(f"template placeholder {key!r} has no default and no value")
        return default.strip()

    text = _PLACEHOLDER.sub(sub, template)
    return set_keys(text, {"common.gracefulStopTimeout": GRACEFUL_STOP_TIMEOUT_S, **(overrides or {})})


def set_keys(yaml_text: str, overrides: dict[str, object]) -> str:
    """Set existing dotted keys (e.g. "dataCoord.compaction.enableAutoCompaction") in place, keeping
    comments and layout. A key that is not in the text is an error, so a typo cannot pass silently."""
    path: list[str] = []
    found: set[str] = set()
    out = []
    for line in yaml_text.splitlines():
        m = re.match(r"^( *)([A-Za-z0-9_.]+):(.*)$", line)
        if m and not line.lstrip().startswith("#"):
            depth = len(m.group(1)) // 2
            path = [*path[:depth], m.group(2)]
            key = ".".join(path)
            if key in overrides:
                v = overrides[key]
                value = ("true" if v else "false") if isinstance(v, bool) else str(v)
                line = f"{m.group(1)}{m.group(2)}: {value}"
                found.add(key)
        out.append(line)
    unknown = set(overrides) - found
    if unknown:
        raise RealMilvusError(f"config keys not in the template: {sorted(unknown)}")
    return "\n".join(out) + "\n"


@dataclass
class RealMilvus:
    base_dir: Path
    grpc_port: int
    metrics_port: int
    proc: subprocess.Popen[bytes]
    started_in_s: float = 0.0
    _log_files: list[object] = field(default_factory=list, repr=False)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def metrics_target(self) -> str:
        """host:port for a Prometheus scrape config."""
        return f"127.0.0.1:{self.metrics_port}"

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "logs"

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, term_timeout_s: float = GRACEFUL_STOP_TIMEOUT_S + 5) -> float:
        """SIGTERM, then SIGKILL after term_timeout_s. Returns the seconds it took."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=term_timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for f in self._log_files:
            f.close()  # type: ignore[attr-defined]
        self._log_files.clear()
        return time.monotonic() - t0


def _embed_etcd_config(client_port: int, peer_port: int) -> str:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return (f"listen-client-urls: {client}\nadvertise-client-urls: {client}\n"
            f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
            f"initial-cluster: default={peer}\n")


def _log_tail(base: Path, n: int = 30) -> str:
    out = []
    for name in ("milvus-stderr.log", "milvus-stdout.log"):
        p = base / "logs" / name
        if p.exists():
            lines = p.read_text(errors="replace").splitlines()[-n:]
            out.append(f"--- {name} ---\n" + "\n".join(lines))
    return "\n".join(out)


def _healthy(metrics_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=2) as resp:
            return b"OK" in resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the thread that started it dies (PR_SET_PDEATHSIG),
    so a killed test run does not leave a 1 GB server behind on a shared machine."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def start_real_milvus(base_dir: Path, ready_timeout_s: float = 120.0, values: dict[str, object] | None = None,
                      overrides: dict[str, object] | None = None, cache_dir: Path | None = None,
                      die_with_parent: bool = True) -> RealMilvus:
    """Start a fresh standalone server with its data under base_dir and wait for /healthz.

    values: template placeholders (e.g. authorization_enabled=True); overrides: dotted config keys
    (e.g. {"dataCoord.compaction.enableAutoCompaction": False}). die_with_parent: the server is killed
    when the starting *thread* exits (Linux), so start it from a thread that outlives it."""
    t0 = time.monotonic()
    data = _wheel_data_dir()
    bin_dir = unpack_binaries(cache_dir)
    base_dir = base_dir.resolve()
    for sub in ("configs", "logs", "data", "run"):
        (base_dir / sub).mkdir(parents=True, exist_ok=True)
    ports = free_ports(len(_PORT_KEYS) + 2)
    placeholders: dict[str, object] = dict(zip(_PORT_KEYS, ports, strict=False))
    metrics_port, etcd_peer_port = ports[-2], ports[-1]
    storage = base_dir / "data"
    placeholders.update({
        "etcd_log_path": str(base_dir / "logs" / "etcd.log"),
        "etcd_data_dir": str(storage / "etcd.data"),
        "local_storage_dir": str(storage),
        "rocksmq_data_dir": str(storage / "rocksmq"),
        "system_log_path": str(base_dir / "logs"),
    })
    placeholders.update(values or {})
    template = (data / "config.yaml.template").read_text(encoding="utf-8")
    (base_dir / "configs" / "milvus.yaml").write_text(render_config(template, placeholders, overrides),
                                                      encoding="utf-8")
    (base_dir / "configs" / "glog.conf").write_text((data / "glog.conf").read_text(encoding="utf-8"))
    # Without this file the embedded etcd always listens on 127.0.0.1:2379/2380, so a second server clashes.
    etcd_cfg = base_dir / "configs" / "embedEtcd.yaml"
    etcd_cfg.write_text(_embed_etcd_config(int(placeholders["etcd_port"]), etcd_peer_port),  # type: ignore[call-overload]
                        encoding="utf-8")

    env = dict(os.environ)
    env.update({
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(metrics_port),
        "MILVUSCONF": str(base_dir / "configs"),
        "MILVUS_RUN_DIR": str(base_dir / "run"),
        "ETCD_CONFIG_PATH": str(etcd_cfg),
        "LD_LIBRARY_PATH": ":".join(p for p in (str(bin_dir), os.environ.get("LD_LIBRARY_PATH", "")) if p),
    })
    out = open(base_dir / "logs" / "milvus-stdout.log", "wb")  # noqa: SIM115 - closed by RealMilvus.stop
    err = open(base_dir / "logs" / "milvus-stderr.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([str(bin_dir / "milvus"), "run", "standalone"], cwd=base_dir, env=env,
                            stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_die_with_parent if die_with_parent else None)
    server = RealMilvus(base_dir=base_dir, grpc_port=int(placeholders["proxy_port"]),  # type: ignore[call-overload]
                        metrics_port=metrics_port, proc=proc, _log_files=[out, err])
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            server.stop()
            raise RealMilvusError(f"milvus exited with code {proc.returncode} while starting\n{_log_tail(base_dir)}")
        if _healthy(metrics_port):
            server.started_in_s = time.monotonic() - t0
            return server
        time.sleep(0.25)
    server.stop()
    raise RealMilvusError(f"milvus not healthy after {ready_timeout_s:.0f}s\n{_log_tail(base_dir)}")


@contextlib.contextmanager
def real_milvus(base_dir: Path, **kwargs: object) -> Iterator[RealMilvus]:
    server = start_real_milvus(base_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
