"""Benchmark: the handoff query over 100,000 stored diagnoses, on SQLite and on PostgreSQL.

    python bench/handoff.py [--n 100000] [--runs 20] [--pg postgresql://postgres@127.0.0.1:5432/test]

Seeds a synthetic history (30 days, 3 clusters, 0-3 findings and 0-2 slow collections per diagnosis,
plus incidents) into a fresh SQLite file and a fresh PostgreSQL schema (dropped afterwards), then
times build_handoff() for the last 12 hours, for one cluster, and for 3 days. Target: < 200 ms each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import parse_config
from bot.handoff import build_handoff
from bot.store import NewIncident, Store, open_store
from tests.support.history import CLUSTERS, synthetic_history

TARGET_MS = 200.0
UNTIL = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
CONFIG = parse_config({"clusters": [{"name": c} for c in CLUSTERS]})


def seed(store: Store, n: int) -> float:
    t0 = time.perf_counter()
    store.record_diagnoses(synthetic_history(n, UNTIL, days=30, seed=7), batch=5000)
    for i in range(300):  # about 10 incidents a day, a few still open
        fired = UNTIL - timedelta(minutes=144 * i + 7)
        inc, _ = store.open_incident(NewIncident(
            ident=f"{CLUSTERS[i % 3]}|MilvusSearchLatencyHigh {CLUSTERS[i % 3]}|{i}", firing_key=f"bench-{i}",
            cluster=CLUSTERS[i % 3], alertname="MilvusSearchLatencyHigh", fired_at=fired, source="bench",
            channel="C1", thread_ts=f"{fired.timestamp():.6f}"), now=fired)
        if inc is not None and i % 17:
            store.resolve_incident(incident_id=inc.id, resolved_at=fired + timedelta(minutes=20 + i % 40))
    return time.perf_counter() - t0


def time_handoffs(store: Store, runs: int) -> dict[str, list[float]]:
    cases = {
        "12h, all clusters": (UNTIL - timedelta(hours=12), None),
        "12h, one cluster": (UNTIL - timedelta(hours=12), CLUSTERS[0]),
        "3d, all clusters": (UNTIL - timedelta(days=3), None),
    }
    out: dict[str, list[float]] = {}
    for name, (since, cluster) in cases.items():
        build_handoff(store, CONFIG, since, UNTIL, cluster=cluster, now=UNTIL)  # warm caches and plans
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            build_handoff(store, CONFIG, since, UNTIL, cluster=cluster, now=UNTIL)
            samples.append((time.perf_counter() - t0) * 1000.0)
        out[name] = samples
    return out


def report(db: str, n: int, seed_s: float, results: dict[str, list[float]]) -> bool:
    ok = True
    print(f"\n{db}: {n:,} diagnoses seeded in {seed_s:.1f} s")
    print(f"  {'case':<20} {'median':>9} {'p95':>9} {'max':>9}  target {TARGET_MS:.0f} ms")
    for name, samples in results.items():
        s = sorted(samples)
        med, p95 = statistics.median(s), s[min(len(s) - 1, int(0.95 * len(s)))]
        ok &= p95 < TARGET_MS
        print(f"  {name:<20} {med:>7.1f}ms {p95:>7.1f}ms {s[-1]:>7.1f}ms  {'ok' if p95 < TARGET_MS else 'SLOW'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                    help="a PostgreSQL database where a scratch schema may be created and dropped")
    args = ap.parse_args()
    ok = True

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db", use_env=False)
        seed_s = seed(store, args.n)
        ok &= report("SQLite", args.n, seed_s, time_handoffs(store, args.runs))
        store.close()

    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    dsn = args.pg.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as e:
        print(f"\nPostgreSQL: not reachable at {args.pg} ({str(e).strip()[:200]}); skipped")
        return 0 if ok else 1
    try:
        sep = "&" if "?" in dsn else "?"
        store = open_store(f"{dsn}{sep}options={quote(f'-csearch_path={schema}')}", use_env=False)
        seed_s = seed(store, args.n)
        with store.read_engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
        ok &= report("PostgreSQL", args.n, seed_s, time_handoffs(store, args.runs))
        store.close()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
