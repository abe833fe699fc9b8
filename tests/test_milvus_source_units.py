"""Pure parts of bot.evidence.milvus: URI redaction, secret scrubbing, fact shaping, segment counting.

The inputs mirror shapes measured on the real servers (comments say which); the outputs follow
from the rules in the module docstrings.
"""

from __future__ import annotations

from importlib import util
from pathlib import Path

import grpc
import pytest
from pymilvus import DataType
from pymilvus.exceptions import MilvusException

from bot.config import MilvusConfig
from bot.evidence.milvus import (
    Scrubber,
    consistency_name,
    describe_error,
    field_facts,
    index_facts,
    is_lite_uri,
    is_unimplemented,
    mmap_setting,
    redact_uri,
    segment_facts,
    unknown_collection_reason,
)
from bot.models import IndexFacts
from tests.support.real_milvus import RealMilvusError, render_config, set_keys, wheel_available

CFG = MilvusConfig(uri="http://127.0.0.1:19530")


@pytest.mark.parametrize(("uri", "clean"), [
    ("http://root:Milvus@milvus.internal:19530", "http://milvus.internal:19530"),
    ("https://user:p%40ss@in01.example.com:19538/mydb?token=abc", "https://in01.example.com:19538/mydb"),
    ("http://127.0.0.1:19530", "http://127.0.0.1:19530"),
    ("tcp://[::1]:19530", "tcp://[::1]:19530"),
    ("./demo.db", "./demo.db"),
])
def test_redact_uri(uri: str, clean: str) -> None:
    assert redact_uri(uri) == clean


def test_lite_uri_detection() -> None:
    assert is_lite_uri("./demo.db") and is_lite_uri("/var/lib/triage.db")
    assert not is_lite_uri("http://host:19530") and not is_lite_uri("http://host/x.db")


def test_scrubber_removes_every_form_of_the_secret() -> None:
    scrub = Scrubber("http://bob:hunter2@h:19530?token=qq-secret", "root:tok-secret")
    text = ("fail http://bob:hunter2@h:19530?token=qq-secret with root:tok-secret, "
            "password tok-secret, hunter2, qq-secret")
    out = scrub(text)
    for s in ("hunter2", "tok-secret", "qq-secret", "bob:"):
        assert s not in out
    assert "http://h:19530" in out


def test_describe_error_shapes() -> None:
    assert describe_error(MilvusException(code=2, message="Fail connecting to server")) == "Fail connecting to server"

    class Rpc(grpc.RpcError):
        def __init__(self, code: grpc.StatusCode, details: str) -> None:
            self._c, self._d = code, details

        def code(self) -> grpc.StatusCode:
            return self._c

        def details(self) -> str:
            return self._d

    assert describe_error(Rpc(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")) == "timed out"
    unimpl = Rpc(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
    assert describe_error(unimpl) == "UNIMPLEMENTED: Method not implemented!"
    assert is_unimplemented(unimpl) and not is_unimplemented(MilvusException(code=1, message="boom"))


def test_field_facts_from_describe_collection() -> None:
    # the shapes pymilvus 3.0.2 returned from Milvus 2.3.5 (ints as enums, params as ints)
    vec = field_facts({"name": "vec", "type": DataType.FLOAT_VECTOR, "params": {"dim": 16}})
    assert (vec.data_type, vec.is_vector, vec.dim) == ("FLOAT_VECTOR", True, 16)
    s = field_facts({"name": "repo", "type": DataType.VARCHAR, "params": {"max_length": "128"},
                     "is_partition_key": True})
    assert (s.data_type, s.is_vector, s.max_length, s.is_partition_key) == ("VARCHAR", False, 128, True)
    arr = field_facts({"name": "tags", "type": 22, "params": {"max_capacity": 4}, "element_type": 21})
    assert (arr.data_type, arr.element_type) == ("ARRAY", "VARCHAR")
    sparse = field_facts({"name": "sp", "type": DataType.SPARSE_FLOAT_VECTOR, "params": {}})
    assert sparse.is_vector and sparse.dim is None


def test_index_facts_flattened_and_nested_params() -> None:
    # 2.3.5 sends build params flattened and as strings
    hnsw = index_facts({"M": "8", "efConstruction": "32", "metric_type": "L2", "index_type": "HNSW",
                        "field_name": "vec", "index_name": "vec", "total_rows": 3000, "indexed_rows": 3000,
                        "pending_index_rows": 0, "state": "Finished"})
    assert hnsw.params == {"M": 8, "efConstruction": 32}
    assert (hnsw.index_type, hnsw.metric_type, hnsw.indexed_rows) == ("HNSW", "L2", 3000)
    # newer servers nest them in a `params` dict; mmap and JSON path settings are kept as they come
    ivf = index_facts({"index_type": "IVF_FLAT", "metric_type": "IP", "field_name": "v", "index_name": "v_idx",
                       "params": {"nlist": 1024, "mmap.enabled": "true"}})
    assert ivf.params == {"nlist": 1024, "mmap.enabled": "true"}
    # Milvus Lite reports scalar indexes with metric "NONE"
    inv = index_facts({"index_type": "INVERTED", "metric_type": "NONE", "field_name": "tag", "index_name": "tag"})
    assert inv.metric_type is None and inv.params == {}


def test_consistency_names() -> None:
    assert consistency_name({"consistency_level": 2}) == "Bounded"
    assert consistency_name({"consistency_level": 0, "consistency_level_name": "Strong"}) == "Strong"
    assert [consistency_name({"consistency_level": i}) for i in range(5)] == [
        "Strong", "Session", "Bounded", "Eventually", "Customized"]
    assert consistency_name({}) is None


def test_mmap_from_collection_then_indexes() -> None:
    assert mmap_setting({"mmap.enabled": "True"}, []) is True
    assert mmap_setting({"mmap.enabled": "false"}, []) is False
    on = IndexFacts(field_name="v", params={"mmap.enabled": "true"})
    assert mmap_setting({}, [IndexFacts(field_name="s"), on]) is True
    assert mmap_setting({}, [IndexFacts(field_name="s")]) is None


def _seg(rows: int, state: str = "Sealed", index_name: str = "") -> dict[str, object]:
    return {"segment_id": rows, "num_rows": rows, "state": state, "index_name": index_name, "index_id": 0}


def test_segment_counts_with_a_vector_index() -> None:
    hnsw = [IndexFacts(field_name="vec", index_name="vec", index_type="HNSW")]
    segs = [_seg(100_000, index_name="vec"), _seg(90_000, index_name="user"), _seg(500),
            _seg(120_000, index_name="vec"), _seg(3000, "Growing")]
    f = segment_facts(segs, hnsw, CFG, "v2.5.4", "list_loaded_segments")
    assert (f.total, f.sealed, f.growing) == (5, 4, 1)
    assert f.unindexed_sealed == 1  # the 500-row one reports no index at all
    assert f.index_unknown == 1  # reports the scalar index "user": the vector index state is unknown
    assert (f.rows_min, f.rows_median, f.rows_max) == (500, 95_000, 120_000)
    assert f.small == 1 and f.growing_reported is True and f.source == "list_loaded_segments"


def test_segment_counts_flat_is_brute_force() -> None:
    flat = [IndexFacts(field_name="vec", index_name="vec", index_type="FLAT")]
    f = segment_facts([_seg(2500), _seg(2400, index_name="user")], flat, CFG, "v2.3.5-lite")
    assert f.unindexed_sealed == 2 and f.index_unknown == 0
    assert f.growing == 0 and f.growing_reported is False  # 2.3 lists sealed segments only


def test_small_segments_by_threshold_and_by_median() -> None:
    cfg = MilvusConfig(uri="x", small_segment_rows=1000, small_segment_ratio=0.1)
    f = segment_facts([_seg(r, index_name="v") for r in (50_000, 60_000, 4_000, 900, 70_000)],
                      [IndexFacts(field_name="v", index_name="v", index_type="HNSW")], cfg)
    assert f.rows_median == 50_000
    assert f.small == 2  # 900 < 1000 rows, 4000 < 10% of the median
    assert f.growing_reported is None  # unknown version: no claim either way


def test_unknown_collection_reason_lists_and_suggests() -> None:
    r = unknown_collection_reason("repo_vectors", ["repo_vector", "users"], "prod-eu")
    assert "Did you mean 'repo_vector'?" in r and "repo_vector, users" in r and "prod-eu" in r
    long = unknown_collection_reason("x" * 500 + "\x1b[31m", [], "c")
    assert "\x1b" not in long and len(long) < 200 and "(none)" in long


# --------------------------------------------------------------------------- the real-server runner


def test_runner_renders_the_wheel_template() -> None:
    if not wheel_available():
        pytest.skip("the milvus==2.3.5 wheel is not installed (pip install -e '.[dev]')")
    spec = util.find_spec("milvus")
    assert spec is not None and spec.origin is not None
    template = (Path(spec.origin).parent / "data" / "config.yaml.template").read_text()
    text = render_config(template, {"proxy_port": 41234, "etcd_data_dir": "/d/etcd", "local_storage_dir": "/d",
                                    "rocksmq_data_dir": "/d/mq", "system_log_path": "/d/logs"},
                         {"dataCoord.compaction.enableAutoCompaction": False})
    assert "{{" not in text
    assert "  port: 41234" in text and "gracefulStopTimeout: 10" in text
    assert "    enableAutoCompaction: false" in text and "enableAutoCompaction: true" not in text
    assert "  port: 53100" in text  # placeholders without a value keep the template default
    with pytest.raises(RealMilvusError, match=r"dataCoord\.nope"):
        set_keys(text, {"dataCoord.nope": 1})
