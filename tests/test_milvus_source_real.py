"""bot.evidence.milvus against the real Milvus 2.3.5 server (the `milvus==2.3.5` wheel's binary).

Two collections, each filled in two flushed batches (2500 + 500 rows, so one sealed segment sits
below rootCoord.minSegmentSizeToEnableIndex = 1024 rows and gets no index), loaded, then 400 more
rows inserted without flush (growing):
* `src_flat`: FLAT vector index, no scalar index (user, stars and meta are unindexed);
* `src_hnsw`: HNSW (M=8, efConstruction=32) plus Trie on the VARCHAR and STL_SORT on the INT64.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import ClusterConfig
from bot.evidence.milvus import ReadOnlyMilvus, collect_milvus
from bot.models import CollectionFacts
from tests.fixtures.milvus import wait_until
from tests.support.real_milvus import RealMilvus, start_real_milvus, wheel_available

pytestmark = pytest.mark.slow

DIM = 32
BATCHES = (2500, 500)  # flushed one after the other: two sealed segments
GROWING_ROWS = 400  # inserted after load, never flushed
SMALL_ROWS = 1024  # rootCoord.minSegmentSizeToEnableIndex in the wheel's config


@dataclass(frozen=True)
class Made:
    name: str
    vector_index: str
    vector_params: dict[str, int]
    scalar_indexes: dict[str, str]  # field -> index type


MADE = (
    Made("src_flat", "FLAT", {}, {}),
    Made("src_hnsw", "HNSW", {"M": 8, "efConstruction": 32}, {"user": "Trie", "stars": "STL_SORT"}),
)


def _create(client: Any, made: Made) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("user", DataType.VARCHAR, max_length=64)
    schema.add_field("stars", DataType.INT64)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(made.name, schema=schema, consistency_level="Bounded")
    params = client.prepare_index_params()
    params.add_index("vec", index_type=made.vector_index, metric_type="L2", params=dict(made.vector_params))
    for fld, kind in made.scalar_indexes.items():
        params.add_index(fld, index_type=kind)
    client.create_index(made.name, params)


def _rows(start: int, n: int, rng: random.Random) -> list[dict[str, Any]]:
    return [{"id": i, "user": f"user-{i % 11}", "stars": i % 500, "meta": {"lang": "go" if i % 2 else "py"},
             "vec": [rng.random() for _ in range(DIM)]} for i in range(start, start + n)]


@pytest.fixture(scope="module")
def real_collections(real_milvus_server: RealMilvus) -> dict[str, float]:
    """Build both collections (flushes and loads run concurrently to save time). Returns timings."""
    from pymilvus import MilvusClient

    timings: dict[str, float] = {}
    client = MilvusClient(uri=real_milvus_server.uri, timeout=60)
    rng = random.Random(11)
    t0 = time.monotonic()
    try:
        for made in MADE:
            _create(client, made)
        start = 0
        with ThreadPoolExecutor(max_workers=len(MADE)) as pool:
            for n in BATCHES:
                for made in MADE:
                    client.insert(made.name, _rows(start, n, rng))
                list(pool.map(client.flush, [m.name for m in MADE]))
                start += n
            timings["insert+flush"] = time.monotonic() - t0

            def built(name: str) -> bool:
                d = client.describe_index(name, "vec")
                return bool(d) and d["pending_index_rows"] == 0 and d["indexed_rows"] == d["total_rows"]

            for made in MADE:  # load after the builds, so every segment big enough loads with its index
                assert wait_until(lambda n=made.name: built(n), 60), f"index of {made.name} not built"
            t1 = time.monotonic()
            list(pool.map(client.load_collection, [m.name for m in MADE]))
            timings["load"] = time.monotonic() - t1
        for made in MADE:
            client.insert(made.name, _rows(100_000 + start, GROWING_ROWS, rng))
    finally:
        client.close()
    timings["total"] = time.monotonic() - t0
    return timings


def _cluster(server: RealMilvus, **milvus: Any) -> ClusterConfig:
    return ClusterConfig(name="real-235", milvus={"uri": server.uri, "timeout_s": 10, **milvus})


def _facts(server: RealMilvus, name: str) -> CollectionFacts:
    ev, missing = collect_milvus(_cluster(server), name)
    assert ev is not None and missing == []
    facts = ev.collection(name)
    assert facts is not None
    return facts


def test_server_version_and_listing(real_milvus_server: RealMilvus, real_collections: dict[str, float]) -> None:
    ev, missing = collect_milvus(_cluster(real_milvus_server), None)
    assert ev is not None
    assert ev.server_version == "v2.3.5-lite"
    assert ev.uri == real_milvus_server.uri
    assert {m.name for m in MADE} <= {c.name for c in ev.collections}
    assert ev.collections_unavailable == {} and missing == []


def test_schema_indexes_and_state(real_milvus_server: RealMilvus, real_collections: dict[str, float]) -> None:
    for made in MADE:
        facts = _facts(real_milvus_server, made.name)
        assert [(f.name, f.data_type) for f in facts.fields] == [
            ("id", "INT64"), ("user", "VARCHAR"), ("stars", "INT64"), ("meta", "JSON"), ("vec", "FLOAT_VECTOR")]
        assert facts.field("id").is_primary  # type: ignore[union-attr]
        assert facts.field("user").max_length == 64  # type: ignore[union-attr]
        vec = facts.field("vec")
        assert vec is not None and vec.is_vector and vec.dim == DIM
        assert vec.index is not None
        assert (vec.index.index_type, vec.index.metric_type) == (made.vector_index, "L2")
        assert vec.index.params == made.vector_params  # 2.3.5 sends them flattened, as strings: now ints
        assert vec.index.state == "Finished"
        assert vec.index.total_rows == vec.index.indexed_rows == sum(BATCHES)
        scalar = {f.name: f.index.index_type for f in facts.fields if f.index and not f.is_vector}
        assert scalar == made.scalar_indexes
        assert facts.consistency_level == "Bounded"  # the server sends 2; the name is ours or pymilvus's
        assert facts.load_state == "Loaded"
        assert facts.row_count == sum(BATCHES)  # get_collection_stats counts flushed rows only
        assert facts.mmap_enabled is None  # 2.3.5 has no mmap property set here
        assert facts.collection_id and facts.collection_id > 0


def test_segments_flat(real_milvus_server: RealMilvus, real_collections: dict[str, float]) -> None:
    facts = _facts(real_milvus_server, "src_flat")
    seg = facts.segments
    assert seg is not None and facts.segments_unavailable is None
    assert seg.source == "list_loaded_segments"
    assert (seg.total, seg.sealed) == (len(BATCHES), len(BATCHES))
    assert seg.unindexed_sealed == len(BATCHES)  # FLAT: every sealed segment reports index_name ""
    assert seg.index_unknown == 0
    assert (seg.rows_min, seg.rows_max, seg.rows_median) == (min(BATCHES), max(BATCHES), sum(BATCHES) // 2)
    assert seg.small == sum(1 for n in BATCHES if n < SMALL_ROWS)
    # Growing rows exist (a Strong count sees them) but 2.3.5 does not list growing segments.
    assert seg.growing == 0 and seg.growing_reported is False
    from pymilvus import MilvusClient

    client = MilvusClient(uri=real_milvus_server.uri, timeout=30)
    try:
        counted = client.query("src_flat", filter="", output_fields=["count(*)"], consistency_level="Strong")
    finally:
        client.close()
    assert counted[0]["count(*)"] == sum(BATCHES) + GROWING_ROWS


def test_segments_hnsw_with_scalar_indexes(real_milvus_server: RealMilvus,
                                           real_collections: dict[str, float]) -> None:
    seg = _facts(real_milvus_server, "src_hnsw").segments
    assert seg is not None and seg.sealed == len(BATCHES)
    # The 500-row segment is below the index threshold: no index at all, so index_name "".
    assert seg.unindexed_sealed == sum(1 for n in BATCHES if n < SMALL_ROWS)
    # The big one reports "vec", or one of its scalar indexes (2.3.5 names whichever it loaded last).
    assert seg.index_unknown in (0, 1)
    assert seg.small == 1 and seg.growing_reported is False


@pytest.mark.filterwarnings("ignore:.*ORM-style PyMilvus API")
def test_orm_fallback_gives_the_same_segments(real_milvus_server: RealMilvus,
                                              real_collections: dict[str, float]) -> None:
    cfg = _cluster(real_milvus_server).milvus
    assert cfg is not None
    db = ReadOnlyMilvus.connect(cfg, None, time.monotonic() + 30)
    try:
        new, source = db.loaded_segments("src_flat")
        old = db.query_segment_info_orm("src_flat")
    finally:
        db.close()
    assert source == "list_loaded_segments"
    def key(s: dict[str, Any]) -> tuple[Any, ...]:
        return (s["segment_id"], s["num_rows"], s["state"], s["index_name"])

    assert sorted(map(key, new)) == sorted(map(key, old))
    assert {s["state"] for s in old} == {"Sealed"}
    assert db.calls == ["list_loaded_segments", "utility.get_query_segment_info"]


def test_unknown_collection_on_real_server(real_milvus_server: RealMilvus,
                                           real_collections: dict[str, float]) -> None:
    ev, missing = collect_milvus(_cluster(real_milvus_server), "src_flt")
    assert ev is not None and ev.collections == [] and ev.server_version == "v2.3.5-lite"
    assert len(missing) == 1 and "Did you mean 'src_flat'?" in missing[0].reason
    assert "src_hnsw" in missing[0].reason


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMilvus]:
    """A second 2.3.5 server with authorization on (root:Milvus is its stock superuser). ~3 s."""
    if not wheel_available():
        pytest.skip("the milvus==2.3.5 wheel is not installed (pip install -e '.[dev]')")
    server = start_real_milvus(Path(tmp_path_factory.mktemp("milvus-2.3.5-auth")),
                               values={"authorization_enabled": True})
    try:
        yield server
    finally:
        server.stop(term_timeout_s=3)


def test_token_from_env_logs_in_and_is_never_echoed(auth_server: RealMilvus, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TRIAGE_TEST_MILVUS_TOKEN", "root:Milvus")
    ev, missing = collect_milvus(_cluster(auth_server, token_env="TRIAGE_TEST_MILVUS_TOKEN"), None)
    assert ev is not None and ev.server_version == "v2.3.5-lite" and missing == []
    # wrong password: a clear reason that names the env var, without the password
    monkeypatch.setenv("TRIAGE_TEST_MILVUS_TOKEN", "root:Wr0ng-Secret-Pw")
    ev, missing = collect_milvus(_cluster(auth_server, token_env="TRIAGE_TEST_MILVUS_TOKEN"), None)
    assert ev is None and len(missing) == 1
    assert missing[0].reason.startswith(
        f"login refused by {auth_server.uri} (check the token in TRIAGE_TEST_MILVUS_TOKEN): UNAUTHENTICATED")
    # credentials in the URI itself: redacted in the reason
    uri = auth_server.uri.replace("http://", "http://root:Uri-Secret-Pw@")
    ev, missing = collect_milvus(ClusterConfig(name="real-235", milvus={"uri": uri, "timeout_s": 10}), None)
    assert ev is None and missing[0].reason.startswith(f"login refused by {auth_server.uri} ")
    text = " ".join(m.reason for m in missing) + caplog.text
    assert "Wr0ng-Secret-Pw" not in text and "Uri-Secret-Pw" not in text and "root:Milvus" not in text
