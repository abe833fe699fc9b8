"""The history store on both databases: migrations, records, insert-if-absent, incidents, cooldowns."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from bot.digest.model import Digest, ShapeStats
from bot.models import SlowLogEvidence
from bot.store import NewIncident, StoreURLError, open_store, resolve_url
from bot.store.migrate import current_revision, head_revision
from bot.store.schema import Base, CollectionLatencyRow, FindingRow
from tests.support.history import make_diagnosis

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TABLES = {"diagnoses", "diagnosis_findings", "diagnosis_collections", "incidents", "dedup_keys", "cooldowns",
          "handoff_slots", "alembic_version"}


def _incident(ident: str = "prod-eu|MilvusSlowSearch prod-eu", key: str = "k1", fired: datetime = T0,
              **kw) -> NewIncident:
    return NewIncident(ident=ident, firing_key=key, cluster="prod-eu", alertname="MilvusSlowSearch",
                       fired_at=fired, source="test", **kw)


def test_migrations_reach_head_and_match_models(db_url: str) -> None:
    store = open_store(db_url, use_env=False)
    try:
        assert current_revision(store.read_engine) == head_revision() == "0001"
        assert set(inspect(store.read_engine).get_table_names()) >= TABLES
        # The models and the migration describe the same schema (columns, types, indexes).
        with store.read_engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
    finally:
        store.close()
    again = open_store(db_url, use_env=False)  # a restart: already at head, nothing to do, data kept
    try:
        assert current_revision(again.read_engine) == "0001"
    finally:
        again.close()


def test_replicas_migrating_at_once_both_start(db_url: str) -> None:
    results: list[object] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        barrier.wait()
        try:
            s = open_store(db_url, use_env=False)
            results.append(current_revision(s.read_engine))
            s.close()
        except Exception as e:
            results.append(e)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == ["0001", "0001", "0001"]


def test_claim_is_insert_if_absent_under_contention(db_url: str) -> None:
    stores = [open_store(db_url, use_env=False) for _ in range(2)]
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        wins.append(stores[i % 2].claim("firing|prod-eu|g|2026-11-24T10:00:00Z"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(wins) == [False] * 7 + [True]
    assert stores[0].claim_event("Ev1") is True and stores[1].claim_event("Ev1") is False
    assert stores[0].claim("old", now=T0 - timedelta(days=40)) is True
    assert stores[0].prune_keys(T0 - timedelta(days=30)) == 1
    assert stores[1].claim("old") is True and stores[1].claim_event("Ev1") is False  # only "old" was pruned
    for s in stores:
        s.close()


def test_record_diagnosis_keeps_findings_and_collection_latencies(db_url: str) -> None:
    store = open_store(db_url, use_env=False)
    d = make_diagnosis("prod-eu", T0, [("or_chain_filter", "my_repos"), ("heavy_nq", None),
                                       ("or_chain_filter", "my_repos")])
    shape = ShapeStats(fingerprint="ab12", kind="search", db="default", collection="my_repos", partitions=[],
                       filter_shape="a == ? || a == ?", nq_bucket="1", topk=10, metric_type="L2", params_bucket={},
                       consistency_level=None, output_field_count=0, count=7, total_s=30.0, p95_s=6.0, max_s=9.5)
    d.evidence.slowlog = SlowLogEvidence(source="files:x", slow_lines=7, digest=Digest(total_count=7, shapes=[shape]))
    diag_id = store.record_diagnosis(d, channel="C1", thread_ts="1700000000.000100",
                                     permalink="https://example.slack.com/archives/C1/p1700000000000100",
                                     created_at=T0)
    row = store.get_diagnosis(diag_id)
    assert row is not None
    assert (row.cluster, row.trigger, row.top_cause, row.top_rule_id) == (
        "prod-eu", "slash_command", "inefficient_filtering", "or_chain_filter")
    assert row.top_finding == "OR chain on my_repos"
    assert row.window_start == T0 - timedelta(minutes=30) and row.window_end == T0
    assert row.created_at == T0 and row.created_at.tzinfo is not None
    assert (row.channel, row.thread_ts, row.requested_by) == ("C1", "1700000000.000100", "U123")
    assert [f["rule_id"] for f in row.findings] == ["or_chain_filter", "heavy_nq", "or_chain_filter"]
    assert row.findings[0]["fix_steps"][0].startswith("Rewrite the OR chain on `my_repos`")
    with store.read_engine.connect() as conn:
        flat = conn.execute(select(FindingRow.rule_id, FindingRow.collection)
                            .where(FindingRow.diagnosis_id == diag_id).order_by(FindingRow.id)).all()
        colls = conn.execute(select(CollectionLatencyRow.collection, CollectionLatencyRow.slow_count,
                                    CollectionLatencyRow.max_ms, CollectionLatencyRow.p95_ms)).all()
    # the same rule on the same collection counts once per diagnosis
    assert [tuple(r) for r in flat] == [("or_chain_filter", "my_repos"), ("heavy_nq", "")]
    assert [tuple(r) for r in colls] == [("my_repos", 7, 9500.0, 6000.0)]
    store.close()


def test_incident_lifecycle_is_exactly_once(db_url: str) -> None:
    store = open_store(db_url, use_env=False)
    inc, created = store.open_incident(_incident(channel="C1", thread_ts="1.1"), now=T0)
    assert created and inc is not None and inc.status == "open" and inc.open_key == inc.ident
    # the same firing again (retry, repeat notification, the other source with the same key)
    again, created2 = store.open_incident(_incident(channel="C1", thread_ts="1.1"), now=T0)
    assert not created2 and again is not None and again.id == inc.id
    # another notification of the same group while it is open (other key): absorbed
    other, created3 = store.open_incident(_incident(key="k2"), now=T0 + timedelta(minutes=1))
    assert not created3 and other is not None and other.id == inc.id
    assert store.incident_by_thread("C1", "1.1").id == inc.id
    # resolve: one winner
    done = store.resolve_incident(ident=inc.ident, resolved_at=T0 + timedelta(minutes=23))
    assert done is not None and done.status == "resolved" and done.open_key is None
    assert done.resolved_at - done.fired_at == timedelta(minutes=23)
    assert store.resolve_incident(ident=inc.ident) is None
    assert store.resolve_incident(incident_id=inc.id) is None
    # a late duplicate of the old firing after the resolve does not reopen it
    _, created4 = store.open_incident(_incident(), now=T0 + timedelta(minutes=30))
    assert not created4
    # a new firing of the same group opens a new incident; its group's earlier thread is found
    new, created5 = store.open_incident(_incident(key="k3", fired=T0 + timedelta(hours=1)), now=T0 + timedelta(hours=1))
    assert created5 and new is not None and new.id != inc.id
    assert store.previous_thread(inc.ident, exclude_id=new.id) == ("C1", "1.1")
    store.close()


def test_stale_open_incident_expires(db_url: str) -> None:
    store = open_store(db_url, use_env=False)
    old, _ = store.open_incident(_incident(key="a"), now=T0)
    new, created = store.open_incident(_incident(key="b", fired=T0 + timedelta(days=2)), max_age_s=86400,
                                       now=T0 + timedelta(days=2))
    assert created and new.id != old.id
    assert store.get_incident(old.id).status == "expired"
    store.close()


def test_concurrent_incident_open_has_one_winner(db_url: str) -> None:
    stores = [open_store(db_url, use_env=False) for _ in range(2)]
    created: list[bool] = []
    barrier = threading.Barrier(6)

    def go(i: int) -> None:
        barrier.wait()
        # three different keys for one group: webhook (startsAt), Grafana (message), retry
        _, c = stores[i % 2].open_incident(_incident(key=f"k{i % 3}"), now=T0)
        created.append(c)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(created) == [False] * 5 + [True]
    for s in stores:
        s.close()


def test_cooldown_claims_and_release(db_url: str) -> None:
    store = open_store(db_url, use_env=False)
    a, _ = store.open_incident(_incident(key="a"), now=T0)
    assert store.claim_cooldown("prod-eu", a.id, 900, now=T0) is True
    assert store.claim_cooldown("prod-eu", 999, 900, now=T0 + timedelta(minutes=5)) is False
    assert store.cooldown_holder("prod-eu").id == a.id
    assert store.claim_cooldown("prod-us", 998, 900, now=T0) is True  # per cluster
    assert store.claim_cooldown("prod-eu", 997, 900, now=T0 + timedelta(minutes=16)) is True
    store.release_cooldown("prod-eu", 997)
    assert store.claim_cooldown("prod-eu", 996, 900, now=T0 + timedelta(minutes=17)) is True
    store.close()


def test_handoff_slot_claimed_once(db_url: str) -> None:
    store = open_store(db_url, use_env=False)
    slot = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert store.claim_handoff_slot("0 8 * * *", slot, "C9") is True
    assert store.claim_handoff_slot("0 8 * * *", slot, "C9") is False
    assert store.claim_handoff_slot("0 20 * * *", slot, "C9") is True
    store.set_handoff_posted("0 8 * * *", slot, "123.456")
    assert store.last_handoff_slot("0 8 * * *") == slot
    store.close()


def test_urls(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgres://u:secret@db:5432/triage")
    assert resolve_url("sqlite:///x.db") == "postgresql+psycopg://u:secret@db:5432/triage"
    assert resolve_url("sqlite:///x.db", use_env=False) == "sqlite:///x.db"
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(StoreURLError, match="unsupported database 'mysql'"):
        resolve_url("mysql://u:secret@h/db")
    store = open_store(f"sqlite:///{tmp_path}/deep/dir/store.db")
    assert "secret" not in store.url and store.dialect == "sqlite"
    store.close()
