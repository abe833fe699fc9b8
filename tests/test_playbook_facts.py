"""The fact layer: Evidence -> named facts; the catalogue (facts.yaml) and the code agree."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.digest.model import Digest, FilterAnalysis, ShapeStats
from bot.models import (
    CollectionFacts,
    Evidence,
    FieldFacts,
    IndexFacts,
    MilvusEvidence,
    Missing,
    SegmentFacts,
    SignalValue,
    SlowLogEvidence,
    SlowRequest,
    TimeWindow,
    TriageRequest,
)
from bot.playbook import build_facts, load_playbooks
from bot.playbook.facts import guess_cast_type, json_key, scalar_index_for, suggested_nlist

PB = load_playbooks()
END = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=END.replace(hour=15, minute=30), end=END)


def collection(name: str = "docs", **kw: object) -> CollectionFacts:
    base: dict[str, object] = dict(
        name=name, collection_id=7, row_count=300_000, load_state="Loaded", consistency_level="Strong",
        mmap_enabled=False,
        fields=[FieldFacts(name="id", data_type="INT64", is_primary=True),
                FieldFacts(name="vec", data_type="FLOAT_VECTOR", is_vector=True, dim=128,
                           index=IndexFacts(field_name="vec", index_name="v", index_type="IVF_FLAT", metric_type="L2",
                                            params={"nlist": 1024})),
                FieldFacts(name="tag", data_type="VARCHAR"), FieldFacts(name="price", data_type="DOUBLE"),
                FieldFacts(name="ok", data_type="BOOL"), FieldFacts(name="meta", data_type="JSON"),
                FieldFacts(name="year", data_type="INT64", index=IndexFacts(field_name="year", index_type="STL_SORT"))],
        segments=SegmentFacts(total=4, sealed=3, growing=1, unindexed_sealed=1, small=2, rows_median=5000),
    )
    base.update(kw)
    return CollectionFacts.model_validate(base)


def shape(dsl: str, analysis: FilterAnalysis, **kw: object) -> ShapeStats:
    worst = SlowRequest(kind="search", duration_s=6.0, collection="docs", dsl=dsl, nq=1, topk=10,
                        search_params={"nprobe": 512})
    base: dict[str, object] = dict(
        fingerprint="abc", kind="search", db="default", collection="docs", partitions=[], filter_shape=dsl,
        nq_bucket="1", topk=10, metric_type="L2", params_bucket={}, consistency_level=None, output_field_count=0,
        count=3, total_s=15.0, share=1.0, p50_s=5.0, p95_s=6.0, max_s=6.0, max_nq=1, worst=worst, analysis=analysis)
    base.update(kw)
    return ShapeStats(**base)  # type: ignore[arg-type]


def evidence(version: str | None = "2.3.5", **kw: object) -> Evidence:
    sl_shapes = [shape('tag == "a" or tag == "b" and meta["k"] > 3',
                       FilterAnalysis(fields={"tag": ["=="], 'meta["k"]': [">"]}, or_chains={"tag": 2},
                                      or_chain_values={"tag": ['"a"', '"b"']}, json_paths=['meta["k"]'],
                                      json_fields=["meta"], rewritten='tag in ["a", "b"] and meta["k"] > 3'))]
    base: dict[str, object] = dict(
        cluster="c1", window=WINDOW, gathered_at=END, milvus_version=version,
        signals={"queue_p99": SignalValue(name="queue_p99", title="q", unit="ms", value=float("nan"))},
        slowlog=SlowLogEvidence(source="t", slow_lines=4, requests=[
            SlowRequest(kind="search", duration_s=9.0, collection="docs", nq=8192, topk=100),
            SlowRequest(kind="search", duration_s=6.0, collection="docs", nq=1, topk=10, consistency_level="Strong")],
            digest=Digest(total_count=3, total_s=15.0, shapes=sl_shapes, shape_count=1), threshold_s=5.0),
        milvus=MilvusEvidence(uri="t", server_version="v2.3.5-lite", collections=[collection()]),
    )
    base.update(kw)
    return Evidence.model_validate(base)


def ctx_for(ev: Evidence, **req: object):
    request = TriageRequest(cluster="c1", window=WINDOW, **req)  # type: ignore[arg-type]
    return build_facts(ev, PB, PB.thresholds_for(), request)


def test_every_catalogued_fact_is_computed_and_nothing_else() -> None:
    ctx = ctx_for(evidence())
    produced = set(ctx.globals)
    for scope in PB.scopes:
        items = ctx.scopes[scope]
        if scope == "regression":
            assert items, "2.3.5 matches known regressions"
        assert items, f"fixture yields no {scope} item"
        produced |= {f"{scope}.{k}" for k in items[0].facts}
    assert produced == set(PB.facts), (sorted(produced - set(PB.facts)), sorted(set(PB.facts) - produced))


def test_slowlog_facts() -> None:
    ctx = ctx_for(evidence())
    g = ctx.globals
    assert g["slowlog.max_nq"] == 8192 and g["slowlog.max_nq_duration_s"] == 9.0
    assert g["slowlog.max_nq_duration_per_nq_s"] == pytest.approx(9.0 / 8192)
    assert g["slowlog.nq1_count"] == 1 and g["slowlog.strong_count"] == 1
    assert g["slowlog.max_or_chain"] == 2 and g["slowlog.max_topk"] == 100
    assert g["slowlog.collections"] == ["docs"] and g["slowlog.max_nq_collection"] == "docs"


def test_nan_signal_is_unavailable() -> None:
    ctx = ctx_for(evidence())
    assert ctx.signal("queue_p99") == (None, "no data")
    assert ctx.signal("core_p99")[0] is None


def test_collection_facts_and_scalar_suggestions_by_version() -> None:
    c = ctx_for(evidence()).scopes["collection"][0].facts
    assert c["index_type"] == "IVF_FLAT" and c["nlist"] == 1024 and c["suggested_nlist"] == 2048
    assert c["unindexed_scalar_fields"] == ["tag", "price", "ok"]
    assert c["index_suggestions"] == [{"field": "tag", "data_type": "VARCHAR", "index_type": "Trie"},
                                      {"field": "price", "data_type": "DOUBLE", "index_type": "STL_SORT"}]
    assert c["scalar_indexes"] == ["year: STL_SORT"] and c["searched"] is True
    c25 = ctx_for(evidence("2.5.27")).scopes["collection"][0].facts
    assert [s["index_type"] for s in c25["index_suggestions"]] == ["INVERTED", "INVERTED", "BITMAP"]


def test_scalar_index_for_every_version_range() -> None:
    assert scalar_index_for(PB, (2, 3, 5), "VARCHAR") == "Trie"
    assert scalar_index_for(PB, (2, 3, 5), "INT64") == "STL_SORT"
    assert scalar_index_for(PB, (2, 3, 5), "BOOL") == ""  # 2.3 cannot index BOOL
    assert scalar_index_for(PB, (2, 4, 4), "BOOL") == "INVERTED"
    assert scalar_index_for(PB, (2, 5, 0), "ARRAY") == "INVERTED"
    assert scalar_index_for(PB, None, "VARCHAR") == "Trie"  # unknown version: what every version accepts


def test_shape_field_and_json_items() -> None:
    ctx = ctx_for(evidence())
    s = ctx.scopes["shape"][0].facts
    assert s["or_chain_field"] == "tag" and s["or_chain_max"] == 2 and s["rewritten"].startswith("tag in [")
    assert s["nprobe"] == 512 and s["nlist"] == 1024 and s["nprobe_to_nlist"] == 0.5
    assert s["unindexed_fields"] == ["tag"]  # meta is JSON: the json scope handles it
    fields = [i.facts for i in ctx.scopes["field"]]
    assert [(f["name"], f["suggested_index"]) for f in fields] == [("tag", "Trie")]
    j = ctx.scopes["json"][0].facts
    assert (j["field"], j["key"], j["cast_type"], j["path_index_supported"]) == ("meta", "k", "DOUBLE", False)
    assert ctx_for(evidence("2.5.7")).scopes["json"][0].facts["path_index_supported"] is True
    unknown = ctx_for(evidence(None, milvus=None)).scopes["json"][0]
    assert unknown.facts["path_index_supported"] is None and "version unknown" in unknown.reasons["path_index_supported"]


def test_missing_sources_make_scopes_unavailable_with_reasons() -> None:
    ev = evidence(None, milvus=None, slowlog=None, missing=[
        Missing(source="milvus", what="Milvus", reason="connection refused"),
        Missing(source="slowlog", what="slow log", reason="no files match /var/log/x*.log")])
    ctx = ctx_for(ev)
    assert ctx.scope_unavailable["collection"] == "Milvus: connection refused"
    assert ctx.scope_unavailable["shape"] == "slow log: no files match /var/log/x*.log"
    assert ctx.scope_unavailable["regression"].startswith("Milvus version unknown")
    assert ctx.fact("slowlog.max_nq", None) == (None, "slow log: no files match /var/log/x*.log")


def test_asked_collection_filters_items() -> None:
    ev = evidence(milvus=MilvusEvidence(uri="t", collections=[collection("docs"), collection("other")]))
    assert [i.facts["name"] for i in ctx_for(ev, collection="other").scopes["collection"]] == ["other"]
    assert ctx_for(ev, collection="other").scopes["shape"] == []  # the shapes are all on docs


def test_helpers() -> None:
    assert json_key('meta["a"]["b"]') == "b" and json_key("meta") == "meta"
    assert guess_cast_type('m["k"]', 'm["k"] == "x"', []) == "VARCHAR"
    assert guess_cast_type('m["k"]', 'm["k"] >= -3.5', []) == "DOUBLE"
    assert guess_cast_type('m["k"]', 'm["k"] == true', []) == "BOOL"
    assert guess_cast_type('m["k"]', "", ["12"]) == "DOUBLE"
    assert suggested_nlist(300_000) == 2048 and suggested_nlist(100) == 64 and suggested_nlist(None) is None


def test_private_use_characters_are_stripped_from_log_text() -> None:
    a = FilterAnalysis(fields={"tag": ["=="]})
    ev = evidence(slowlog=SlowLogEvidence(source="t", slow_lines=1, digest=Digest(
        shapes=[shape('tag == "\ue000x"', a)], shape_count=1)))
    assert ctx_for(ev).scopes["shape"][0].facts["filter"] == 'tag == "x"'


def test_alternative_index_follows_type_operators_and_version() -> None:
    a = FilterAnalysis(fields={"tag": ["=="], "price": [">"]})
    ev = evidence("2.5.27", slowlog=SlowLogEvidence(source="t", slow_lines=1, digest=Digest(
        shapes=[shape('tag == "x" and price > 3', a)], shape_count=1)))
    fields = {i.facts["name"]: i.facts for i in ctx_for(ev).scopes["field"]}
    assert (fields["tag"]["suggested_index"], fields["tag"]["alternative_index"]) == ("INVERTED", "BITMAP")
    assert (fields["price"]["suggested_index"], fields["price"]["alternative_index"]) == ("INVERTED", "STL_SORT")
    assert "range filters on price" in fields["price"]["alternative_note"]
    old = {i.facts["name"]: i.facts for i in ctx_for(evidence("2.3.5", slowlog=ev.slowlog)).scopes["field"]}
    assert old["tag"]["alternative_index"] == "" and old["price"]["suggested_index"] == "STL_SORT"
