"""bot.evidence.milvus against Milvus Lite (real pymilvus, real milvus-lite server in-process).

Every fact the collector reports is compared with what the fixture created (tests/fixtures/milvus.py).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.config import ClusterConfig
from bot.evidence import milvus as source
from bot.evidence.milvus import READ_CALLS, ReadOnlyMilvus, collect_milvus
from bot.models import MilvusEvidence, Missing
from tests.fixtures.milvus import LiteMilvus


def cluster(uri: str, **milvus: Any) -> ClusterConfig:
    return ClusterConfig(name="lite-test", milvus={"uri": uri, "timeout_s": 5, **milvus})


def missing_for(missing: list[Missing], what: str) -> Missing:
    found = [m for m in missing if m.what == what]
    assert found, f"no Missing for {what!r} in {missing}"
    return found[0]


@pytest.fixture()
def recorded_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Every facade call with its arguments, to prove what reached Milvus."""
    calls: list[tuple[str, tuple[Any, ...]]] = []
    original = ReadOnlyMilvus._call

    def spy(self: ReadOnlyMilvus, op: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((op, args))
        return original(self, op, fn, *args, **kwargs)

    monkeypatch.setattr(ReadOnlyMilvus, "_call", spy)
    return calls


def test_every_fact_read_back(lite_milvus: LiteMilvus, recorded_calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    ev, missing = collect_milvus(cluster(lite_milvus.uri), None)

    assert isinstance(ev, MilvusEvidence)
    assert ev.uri == lite_milvus.uri
    assert ev.server_version is not None and ev.server_version.startswith("milvus_lite-")
    assert [c.name for c in ev.collections] == sorted(s.name for s in lite_milvus.specs)
    assert ev.collections_unavailable == {}
    for spec in lite_milvus.specs:
        facts = ev.collection(spec.name)
        assert facts is not None
        # fields and types
        assert [f.name for f in facts.fields] == [f.name for f in spec.fields]
        for want in spec.fields:
            got = facts.field(want.name)
            assert got is not None
            assert got.data_type == want.data_type
            assert got.is_primary == want.is_primary
            assert got.is_partition_key == want.is_partition_key
            assert got.is_vector == want.data_type.endswith("_VECTOR")
            assert got.dim == want.dim
            # Milvus Lite drops max_length of an ARRAY<VARCHAR> (it returns only max_capacity)
            assert got.max_length == (None if want.data_type == "ARRAY" else want.max_length)
            assert got.element_type == want.element_type
        # which field carries which index, scalar and vector
        assert {f.name: f.index.index_type for f in facts.fields if f.index} == {
            ix.field_name: ix.index_type for ix in spec.indexes}
        scalar = {f.name: f.index.index_type for f in facts.fields if f.index and not f.is_vector}
        assert scalar == {ix.field_name: ix.index_type for ix in spec.indexes if ix.metric_type is None}
        for ix in spec.indexes:
            got_ix = facts.field(ix.field_name).index  # type: ignore[union-attr]
            assert got_ix.metric_type == ix.metric_type
            assert got_ix.index_name == ix.field_name  # pymilvus names an index after its field by default
            assert got_ix.state == "Finished"
            assert got_ix.total_rows == spec.rows
            assert got_ix.params == {}  # Milvus Lite sends no build params: recorded as what is there
        assert sorted(i.index_name or "" for i in facts.indexes) == sorted(ix.field_name for ix in spec.indexes)
        assert [f.name for f in facts.vector_fields] == [f.name for f in spec.fields if f.dim]
        assert facts.consistency_level == "Strong"  # Lite reports Strong whatever was asked
        assert facts.load_state == ("Loaded" if spec.loaded else "NotLoad")
        assert facts.row_count == spec.rows
        assert facts.mmap_enabled == (True if spec.properties.get("mmap.enabled") else None)
        # segments: Lite does not implement GetQuerySegmentInfo
        assert facts.segments is None
        if spec.loaded:
            assert facts.segments_unavailable is not None
            assert "UNIMPLEMENTED" in facts.segments_unavailable
            assert "Milvus Lite" in facts.segments_unavailable
            assert missing_for(missing, f"segments of {spec.name}").reason == facts.segments_unavailable
        else:
            assert facts.segments_unavailable == "collection is not loaded (load state NotLoad)"
            assert not [m for m in missing if m.what == f"segments of {spec.name}"]
    assert {m.what for m in missing} == {f"segments of {s.name}" for s in lite_milvus.specs if s.loaded}
    # only reads reached Milvus, and every collection name sent came from list_collections
    assert {op for op, _ in recorded_calls} <= READ_CALLS
    sent = {args[0] for op, args in recorded_calls if args}
    assert sent == {s.name for s in lite_milvus.specs}


def test_collector_left_the_database_unchanged(lite_milvus: LiteMilvus) -> None:
    """Read-only in effect: the released collection stays released, counts and indexes stay as they were."""
    client = lite_milvus.client
    before = {s.name: (str(client.get_load_state(s.name)["state"]), client.get_collection_stats(s.name),
                       sorted(client.list_indexes(s.name))) for s in lite_milvus.specs}
    collect_milvus(cluster(lite_milvus.uri), None)
    after = {s.name: (str(client.get_load_state(s.name)["state"]), client.get_collection_stats(s.name),
                      sorted(client.list_indexes(s.name))) for s in lite_milvus.specs}
    assert after == before
    assert sorted(client.list_collections()) == sorted(s.name for s in lite_milvus.specs)
    assert before["repos_plain"][0] == "NotLoad"


def test_one_collection_asked(lite_milvus: LiteMilvus, recorded_calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    ev, missing = collect_milvus(cluster(lite_milvus.uri), "repos_plain")
    assert ev is not None
    assert [c.name for c in ev.collections] == ["repos_plain"]
    plain = ev.collections[0]
    assert plain.field("vec").index.index_type == "FLAT"  # type: ignore[union-attr]
    assert [f.name for f in plain.fields if f.index and not f.is_vector] == []
    assert missing == []
    assert {args[0] for _, args in recorded_calls if args} == {"repos_plain"}


@pytest.mark.parametrize("asked", ["repos_indexd", "x'); drop_collection('repos_plain", "*", "repos_indexed "])
def test_unknown_collection_is_never_sent(lite_milvus: LiteMilvus, asked: str,
                                          recorded_calls: list[tuple[str, tuple[Any, ...]]]) -> None:
    ev, missing = collect_milvus(cluster(lite_milvus.uri), asked)
    assert ev is not None and ev.collections == []
    assert len(missing) == 1
    reason = missing[0].reason
    assert missing[0].source == "milvus"
    for spec in lite_milvus.specs:
        assert spec.name in reason  # lists the known collections
    if asked in ("repos_indexd", "repos_indexed "):
        assert "Did you mean 'repos_indexed'?" in reason
    # only the listing calls ran: the unchecked name never reached Milvus
    assert [op for op, _ in recorded_calls] == ["get_server_version", "list_collections"]
    assert all(not args for _, args in recorded_calls)


def test_max_collections_is_reported(lite_milvus: LiteMilvus) -> None:
    ev, missing = collect_milvus(cluster(lite_milvus.uri, max_collections=2), None)
    assert ev is not None
    assert [c.name for c in ev.collections] == sorted(s.name for s in lite_milvus.specs)[:2]
    m = missing_for(missing, "Milvus collections")
    assert f"read 2 of {len(lite_milvus.specs)} collections" in m.reason


def test_budget_used_up_marks_the_rest_unavailable(lite_milvus: LiteMilvus, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = ReadOnlyMilvus._timeout

    def timeout_after_some_calls(self: ReadOnlyMilvus) -> float:
        calls["n"] += 1
        if calls["n"] > 9:  # version + list + the first collection's calls, then the budget is gone
            raise source.BudgetExceeded("the Milvus time budget (milvus.budget_s) is used up")
        return original(self)

    monkeypatch.setattr(ReadOnlyMilvus, "_timeout", timeout_after_some_calls)
    ev, missing = collect_milvus(cluster(lite_milvus.uri), None)
    assert ev is not None
    names = sorted(s.name for s in lite_milvus.specs)
    read = [c.name for c in ev.collections]
    assert read == names[:len(read)] and len(read) < len(names)
    assert sorted(ev.collections_unavailable) == names[len(read):]
    assert all("budget" in r for r in ev.collections_unavailable.values())
    assert any("not read" in m.reason and "budget" in m.reason for m in missing)


def test_runs_in_a_worker_thread_like_gather_evidence(lite_milvus: LiteMilvus) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        ev, _ = pool.submit(collect_milvus, cluster(lite_milvus.uri), "repos_indexed").result(timeout=60)
    assert ev is not None and ev.collections[0].row_count == lite_milvus.spec("repos_indexed").rows


def test_token_is_used_and_never_echoed(lite_milvus: LiteMilvus, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    secret = "root:Sup3r-Secret-Token-42"
    monkeypatch.setenv("TRIAGE_TEST_MILVUS_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    ev, missing = collect_milvus(cluster(lite_milvus.uri, token_env="TRIAGE_TEST_MILVUS_TOKEN"), None)
    assert ev is not None and len(ev.collections) == len(lite_milvus.specs)
    dumped = ev.model_dump_json() + "".join(m.model_dump_json() for m in missing) + caplog.text
    assert "Sup3r-Secret-Token-42" not in dumped


def test_token_env_not_set(lite_milvus: LiteMilvus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGE_TEST_UNSET_TOKEN", raising=False)
    ev, missing = collect_milvus(cluster(lite_milvus.uri, token_env="TRIAGE_TEST_UNSET_TOKEN"), None)
    assert ev is None
    assert missing == [Missing(source="milvus", what="Milvus",
                               reason="environment variable TRIAGE_TEST_UNSET_TOKEN (milvus.token_env) is not set")]


def test_not_configured() -> None:
    ev, missing = collect_milvus(ClusterConfig(name="no-milvus"), None)
    assert ev is None
    assert len(missing) == 1 and "not configured" in missing[0].reason and "no-milvus" in missing[0].reason


def test_missing_lite_file_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    ev, missing = collect_milvus(cluster(str(db)), None)
    assert ev is None
    assert "does not exist" in missing[0].reason and str(db) in missing[0].reason
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_uri_fails_fast_with_reason(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TRIAGE_TEST_MILVUS_TOKEN", "admin:tok-never-shown")
    caplog.set_level(logging.DEBUG)
    port = _closed_port()
    uri = f"http://alice:pw-never-shown@127.0.0.1:{port}?token=q-never-shown"
    t0 = time.monotonic()
    ev, missing = collect_milvus(cluster(uri, timeout_s=1, token_env="TRIAGE_TEST_MILVUS_TOKEN"), None)
    elapsed = time.monotonic() - t0
    assert ev is None
    assert len(missing) == 1 and missing[0].what == "Milvus"
    assert missing[0].reason.startswith(f"unreachable at http://127.0.0.1:{port}: ")
    text = missing[0].model_dump_json() + caplog.text
    for secret in ("pw-never-shown", "tok-never-shown", "q-never-shown", "alice"):
        assert secret not in text
    assert elapsed < 10  # bounded by the timeout, not by gRPC's reconnect back-off


def test_silent_server_does_not_hang_past_the_timeout() -> None:
    """A port that accepts TCP but never speaks gRPC: the connect must give up after timeout_s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        ev, missing = collect_milvus(cluster(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=1), None)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        t.join(timeout=5)
        for s in accepted:
            s.close()
        listener.close()
    assert ev is None and missing[0].what == "Milvus" and "unreachable" in missing[0].reason
    assert elapsed < 15  # 1 s timeout; generous bound for a shared 2-core machine


def test_facade_exposes_reads_only(lite_milvus: LiteMilvus) -> None:
    cfg = cluster(lite_milvus.uri).milvus
    assert cfg is not None
    db = ReadOnlyMilvus.connect(cfg, None, time.monotonic() + 30)
    try:
        writes = ["insert", "upsert", "delete", "create_collection", "drop_collection", "create_index",
                  "drop_index", "load_collection", "release_collection", "flush", "compact", "create_partition",
                  "alter_collection_properties", "rename_collection", "truncate_collection", "query", "search"]
        for name in writes:
            assert not hasattr(db, name), name
        with pytest.raises(AttributeError):
            db.new_attribute = 1  # type: ignore[attr-defined]  # __slots__: nothing can be bolted on
        with pytest.raises(PermissionError):
            db._call("drop_collection", lambda *a, **k: None, "repos_plain")
        assert db.list_collections() == lite_milvus.client.list_collections()
        assert db.calls == ["list_collections"]
    finally:
        db.close()
    assert all(not any(w in op for w in ("create", "drop", "insert", "delete", "load_collection", "flush",
                                          "compact", "alter", "release"))
               for op in READ_CALLS)
