"""Ack latency of the HTTP app: N concurrent signed slash commands on loopback.

Starts a fake Slack Web API (tests/fixtures/slack.py) in this process and the real bot in a
subprocess (`milvus-triage serve http`, SLACK_API_URL pointed at the fake), then fires N
`/milvus slow prod-eu` commands at once and prints ack latency p50/p99/max and how many were lost
(no 200 or no "checking" text). Target: p99 < 50 ms, none lost.

    python3 bench/ack.py [--n 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, free_port, sign, slash_command_body  # noqa: E402
from tests.slack_support.botserver import DEAD_PROMETHEUS, write_slow_log  # noqa: E402


def start_bot(fake: FakeSlack, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    write_slow_log(workdir / "proxy.log")
    config = {"clusters": [{"name": "prod-eu", "prometheus": {"url": DEAD_PROMETHEUS, "timeout_s": 2},
                            "logs": {"files": str(workdir / "*.log")}}],
              "store": {"url": f"sqlite:///{workdir / 'bench.db'}"}}
    (workdir / "clusters.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": fake.base_url, "MILVUS_TRIAGE_CONFIG": str(workdir / "clusters.yaml"), "PORT": str(port)}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "http", "--host", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the bot did not start within 30 s")


async def one(url: str, i: int, go: asyncio.Event) -> tuple[float, bool]:
    """One request on its own connection, written with asyncio streams so the client adds ~nothing.

    The connection is opened first; all N requests are written together when `go` is set.
    """
    host, port = url.removeprefix("http://").split(":")
    body = slash_command_body(TEXT.format(w=15 + i % 30))
    head = "".join(f"{k}: {v}\r\n" for k, v in sign(body).items())
    raw = (f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    await go.wait()
    t0 = time.perf_counter()
    try:
        writer.write(raw)
        await writer.drain()
        data = await reader.read()
    except OSError:
        return time.perf_counter() - t0, False
    finally:
        writer.close()
    elapsed = time.perf_counter() - t0
    status_ok = data.startswith(b"HTTP/1.1 200")
    return elapsed, status_ok and len(data.split(b"\r\n\r\n", 1)[-1]) > 0


async def burst(url: str, n: int) -> list[tuple[float, bool]]:
    go = asyncio.Event()
    tasks = [asyncio.create_task(one(url, i, go)) for i in range(n)]
    await asyncio.sleep(0.5)  # every connection is open and waiting
    go.set()
    return await asyncio.gather(*tasks)


TEXT = "slow prod-eu {w}m"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main() -> int:
    global TEXT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="concurrent slash commands per round (default 100)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3); figures are per round")
    ap.add_argument("--text", default="slow prod-eu {w}m", help="command text; {w} becomes a window in minutes")
    args = ap.parse_args()
    TEXT = args.text
    fake = FakeSlack()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_bot(fake, Path(tmp))
        try:
            asyncio.run(burst(url, 1))  # one command first: a running server is warm
            time.sleep(2.0)
            worst_p99 = 0.0
            lost_total = 0
            for r in range(1, args.rounds + 1):
                results = asyncio.run(burst(url, args.n))
                ms = [t * 1000 for t, _ in results]
                lost = sum(1 for _, ok in results if not ok)
                lost_total += lost
                p99 = pct(ms, 0.99)
                worst_p99 = max(worst_p99, p99)
                print(f"round {r}: {args.n} concurrent acks  p50 {statistics.median(ms):.1f} ms  "
                      f"p99 {p99:.1f} ms  max {max(ms):.1f} ms  lost {lost}")
                time.sleep(1.0)
            print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (others' work included)")
            verdict = "PASS" if worst_p99 < 50 and lost_total == 0 else "FAIL"
            print(f"target p99 < 50 ms, none lost: worst p99 {worst_p99:.1f} ms, lost {lost_total} -> {verdict}")
            posted = len(fake.of("chat.postMessage"))
            print(f"(meanwhile the bot posted {posted} messages to the fake Slack out of band)")
            return 0 if verdict == "PASS" else 1
        finally:
            proc.terminate()
            proc.wait(10)
            fake.close()


if __name__ == "__main__":
    sys.exit(main())
