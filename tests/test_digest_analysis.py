"""FilterAnalysis: fields and operators, OR chains and their rewrite, JSON paths, leading-wildcard
like, and unindexed fields joined with Milvus collection facts."""

from __future__ import annotations

import pytest

from bot.digest.analysis import analyze, analyze_request
from bot.digest.expr import parse
from bot.digest.fingerprint import fingerprint
from bot.models import CollectionFacts, FieldFacts, IndexFacts, MilvusEvidence, SlowRequest


@pytest.fixture
def products() -> CollectionFacts:
    """A collection as bot.evidence.milvus describes it: a Trie index on `user` only,
    a JSON field with a path index on meta["color"]."""
    return CollectionFacts(
        name="products",
        fields=[
            FieldFacts(name="id", data_type="INT64", is_primary=True),
            FieldFacts(name="vec", data_type="FLOAT_VECTOR", is_vector=True, dim=8,
                       index=IndexFacts(field_name="vec", index_type="HNSW", metric_type="L2")),
            FieldFacts(name="user", data_type="VARCHAR",
                       index=IndexFacts(field_name="user", index_type="Trie")),
            FieldFacts(name="repo", data_type="VARCHAR"),
            FieldFacts(name="tag", data_type="VARCHAR"),
            FieldFacts(name="price", data_type="INT64",
                       index=IndexFacts(field_name="price", index_type="STL_SORT")),
            FieldFacts(name="meta", data_type="JSON",
                       index=IndexFacts(field_name="meta", index_type="INVERTED",
                                        params={"json_path": "meta['color']", "json_cast_type": "varchar"})),
        ],
    )


def test_or_chain_rewrite_from_the_brief() -> None:
    a = analyze('tag == "A" || tag == "B" || tag == "C"')
    assert a.rewritten == 'tag in ["A", "B", "C"]'
    assert a.or_chains == {"tag": 3}
    assert a.or_chain_values == {"tag": ['"A"', '"B"', '"C"']}
    assert a.fields == {"tag": ["=="]}
    # The rewrite is itself a valid filter, of a different (cheaper) shape.
    assert fingerprint(a.rewritten) == "tag in [?+]"


def test_rewrite_inside_a_larger_filter_keeps_the_rest() -> None:
    a = analyze("(tag == 'x' or tag == \"y\" or tag == 'x') and price > 10 or user == \"u\"")
    assert a.rewritten == "tag in ['x', \"y\"] && price > 10 || user == \"u\""
    assert a.or_chains == {"tag": 3}
    assert a.or_chain_values == {"tag": ["'x'", '"y"', "'x'"]}
    assert parse(a.rewritten) is not None  # parses back


def test_longest_chain_per_field_and_mixed_chains() -> None:
    e = "(a == 1 or a == 2) and (a == 3 or a == 4 or a == 5 or b == 6 or b == 7)"
    a = analyze(e)
    assert a.or_chains == {"a": 3, "b": 2}
    assert a.or_chain_values == {"a": ["3", "4", "5"], "b": ["6", "7"]}
    assert a.rewritten == "a in [1, 2] && (a in [3, 4, 5] || b in [6, 7])"


def test_no_chain_no_rewrite() -> None:
    a = analyze('user == "a" && repo == "b"')
    assert a.rewritten is None
    assert a.or_chains == {}
    assert a.fields == {"user": ["=="], "repo": ["=="]}


def test_json_path_filter() -> None:
    a = analyze('meta["color"]["shade"] == "red" && json_contains(meta["tags"], "x") && price > 3')
    assert a.json_paths == ['meta["color"]["shade"]', 'meta["tags"]']
    assert a.json_fields == ["meta"]
    assert a.fields == {"meta": ["==", "json_contains"], "price": [">"]}


def test_json_path_or_chain_rewrite() -> None:
    inner = " or ".join(f'meta["k"] == "v{i}"' for i in range(3))
    a = analyze(f"((({inner})))")
    assert a.or_chains == {'meta["k"]': 3}
    assert a.rewritten == 'meta["k"] in ["v0", "v1", "v2"]'


def test_leading_wildcard_like() -> None:
    a = analyze('name like "%phone" && brand like "apple%" && code LIKE "_x"')
    assert a.leading_wildcard_like == ["name", "code"]
    assert a.fields == {"name": ["like"], "brand": ["like"], "code": ["like"]}


def test_operators_per_field() -> None:
    a = analyze("1 < age < 9 && id in [1, 2] && array_contains(tags, 'x') && not flag && x is null && v + 1 >= 2")
    assert a.fields == {"age": ["range"], "id": ["in"], "tags": ["array_contains"], "flag": ["bool"],
                        "x": ["is null"], "v": [">="]}


def test_unindexed_fields_with_milvus_facts(products: CollectionFacts) -> None:
    a = analyze('user == "u" && repo == "r" && tag like "%x" && id in [1] && price > 3', products)
    # user has a Trie index, price STL_SORT, id is the primary key: only repo and tag are scanned.
    assert a.unindexed_fields == ["repo", "tag"]


def test_json_path_index_covers_only_its_path(products: CollectionFacts) -> None:
    a = analyze('meta["color"] == "red" && meta["size"] == 3', products)
    assert a.json_paths == ['meta["color"]', 'meta["size"]']
    assert a.unindexed_json_paths == ['meta["size"]']
    assert a.unindexed_fields == ["meta"]
    covered = analyze("meta['color'] == 'red'", products)
    assert covered.unindexed_fields == []
    assert covered.unindexed_json_paths == []


def test_dynamic_fields_are_unindexed(products: CollectionFacts) -> None:
    a = analyze('color == "red" && user == "u"', products)
    assert a.unindexed_fields == ["color"]


def test_without_facts_nothing_is_claimed() -> None:
    assert analyze('repo == "r"').unindexed_fields == []
    empty = CollectionFacts(name="products")  # schema unavailable
    assert analyze('repo == "r"', empty).unindexed_fields == []


def test_parse_error_is_reported() -> None:
    a = analyze("a == 1 &&")
    assert a.parse_error == "expression ends where an operand was expected"
    assert a.fields == {}


def test_hybrid_search_sub_filters(products: CollectionFacts) -> None:
    req = SlowRequest(kind="hybrid_search", duration_s=6.0, collection="products",
                      dsls=['tag == "a" or tag == "b"', "", "repo == 'x'"])
    a = analyze_request(req, products)
    assert a.or_chains == {"tag": 2}
    assert a.rewritten == 'tag in ["a", "b"] ||| repo == \'x\''  # empty sub-filters are dropped, as in SlowRequest.dsl
    assert a.unindexed_fields == ["tag", "repo"]


def test_builder_joins_milvus_evidence(products: CollectionFacts) -> None:
    from bot.digest import DigestBuilder

    b = DigestBuilder()
    b.add(SlowRequest(kind="search", duration_s=6.0, collection="products", db="default",
                      dsl='repo == "a" || repo == "b"', nq=1))
    b.add(SlowRequest(kind="search", duration_s=7.0, collection="other", db="default", dsl='repo == "a"', nq=1))
    d = b.finish(milvus=MilvusEvidence(uri="http://127.0.0.1:19530", collections=[products]))
    by_coll = {s.collection: s for s in d.shapes}
    assert by_coll["products"].analysis.unindexed_fields == ["repo"]
    assert by_coll["products"].analysis.rewritten == 'repo in ["a", "b"]'
    assert by_coll["other"].analysis.unindexed_fields == []  # no facts for that collection


def test_several_json_path_indexes_from_the_collection_index_list(products: CollectionFacts) -> None:
    """bot.evidence.milvus lists every index in CollectionFacts.indexes (one field may have several)."""
    facts = products.model_copy(update={"indexes": [
        IndexFacts(field_name="meta", index_type="INVERTED", params={"json_path": 'meta["color"]'}),
        IndexFacts(field_name="meta", index_type="INVERTED", params={"json_path": 'meta["size"]'}),
        IndexFacts(field_name="user", index_type="Trie"),
    ]})
    a = analyze('meta["color"] == "red" && meta["size"] == 3 && meta["w"] > 1 && user == "u"', facts)
    assert a.unindexed_json_paths == ['meta["w"]']
    assert a.unindexed_fields == ["meta"]
