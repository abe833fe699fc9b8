"""Filter fingerprints: what must merge, what must not, and the tokenizer's hard cases."""

from __future__ import annotations

import pytest

from bot.digest.expr import FilterSyntaxError, parse, tokenize
from bot.digest.fingerprint import clear_cache, compute_fingerprint, fingerprint, render, token_fingerprint


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()


# Each group: expressions that must share one fingerprint, and that fingerprint.
MERGE = [
    (["user == \"a\" && repo == \"b\"", "user=='zzz' and repo==\"q\"", "(user == \"x\") AND (repo == \"y\")",
      "  user   ==  \"a b\"&&repo==\"\""],
     "user == ? && repo == ?"),
    (["id in [1]", "id in [1, 2, 3]", "id IN [" + ", ".join(str(i) for i in range(500)) + "]", "id in [7,]"],
     "id in [?+]"),
    (['tag not in ["a", "b"]', "tag NOT IN ['x']"], "tag not in [?+]"),
    (['tag == "A" || tag == "B"', 'tag == "A" or tag == "B" or tag == "C"',
      " OR ".join(f"tag == 'v{i}'" for i in range(9)), "((tag == 1 || tag == 2) || tag == 3)"],
     "tag == ? [OR x N: 2-9]"),
    ([" or ".join(f'meta["k"] == "v{i}"' for i in range(n)) for n in (10, 45, 100)],
     'meta["k"] == ? [OR x N: 10-100]'),
    (['meta["color"]["shade"] == "red"', "meta['color']['shade'] == 'blue'"], 'meta["color"]["shade"] == ?'),
    (['name like "%abc"', "name LIKE '%x%'", 'name like "_x"'], "name like %?"),
    (['name like "abc%"', "name like 'x'"], "name like ?"),
    (["age > {age} AND city IN {city}", "age > { age } and city in {city}"], "age > {age} && city in {city}"),
    (["1 < age < 5", "10 < age < 20.5"], "? < age < ?"),
    (["not (a == 1)", "!(a == 2)", "NOT (a == 3)"], "not (a == ?)"),
    (["a > -1", "a > 3.5e10", "a > 0x1F"], "a > ?"),
    (['array_contains(tags, "x")', "ARRAY_CONTAINS(tags, 'y')"], "array_contains(tags, ?)"),
    (['json_contains_any(meta["l"], ["a", "b"])', 'json_contains_any(meta["l"], [1])'],
     'json_contains_any(meta["l"], [?+])'),
    (["is_active == true", "is_active == False"], "is_active == ?"),
    (["x is null", "x IS NULL"], "x is null"),
    (["$meta[\"tag\"] == 'a'", '$meta["tag"] == "b"'], '$meta["tag"] == ?'),
]


@pytest.mark.parametrize(("exprs", "shape"), MERGE)
def test_merges(exprs: list[str], shape: str) -> None:
    assert [fingerprint(e) for e in exprs] == [shape] * len(exprs)


def test_literals_with_quotes_unicode_and_operators_inside() -> None:
    exprs = [
        'name == "he said \\"hi\\" && left"',
        "name == 'o\\'brien || x == 1'",
        'name == "北京 (上海) == 广州"',
        'name == "a[0] > b AND c in [1, 2]"',
        'name == "emoji 🙂 and \\\\ backslash"',
        'name == "like \\"%x\\" not"',
    ]
    assert {fingerprint(e) for e in exprs} == {"name == ?"}
    # And the tokenizer sees one string literal in each.
    for e in exprs:
        kinds = [t.kind for t in tokenize(e)]
        assert kinds == ["ident", "op", "str"], e


# Pairs that must NOT share a fingerprint.
DISTINCT = [
    ('user == "a"', 'repo == "a"'),  # different field
    ("age > 1", "age < 1"),  # different operator
    ("age == 1", "age != 1"),
    ('tag == "a" || tag == "b"', 'tag == "a" && tag == "b"'),
    (" || ".join(f"tag == {i}" for i in range(5)), " || ".join(f"tag == {i}" for i in range(50))),  # N buckets
    ('name like "%a"', 'name like "a%"'),  # leading wildcard vs prefix
    ('meta["a"] == 1', 'meta["b"] == 1'),  # JSON keys are structure, not literals
    ("arr[0] == 1", "arr[1] == 1"),
    ("id in [1, 2]", "id not in [1, 2]"),
    ('user == "a" && repo == "b"', 'user == "a" || repo == "b"'),
    ("a == 1 && (b == 2 || c == 3)", "(a == 1 && b == 2) || c == 3"),
    ("age > {age}", "age > {min_age}"),
]


@pytest.mark.parametrize(("a", "b"), DISTINCT)
def test_distinct(a: str, b: str) -> None:
    assert fingerprint(a) != fingerprint(b)


def test_cache_never_changes_the_answer() -> None:
    """The skeleton cache key blanks literals: expressions that differ only where a literal is
    structural (JSON keys, like patterns) must still get their own, uncached-equal fingerprint."""
    corpus = [e for pair in DISTINCT for e in pair] + [e for group, _ in MERGE for e in group]
    corpus += ['meta["a"] == "x" && meta["b"] == "y"', 'meta["b"] == "x" && meta["a"] == "y"',
               'meta ["a"] == 1', 'meta [ "b" ] == 1', 'tags in ["a"]', 'tags in ["b"]',
               "name like '%a' || name like 'a%'", "name like 'a%' || name like '%a'"]
    for e in corpus * 2:  # the second pass reads from the cache
        assert fingerprint(e) == compute_fingerprint(e), e


def test_or_chain_folded_inside_a_larger_expression() -> None:
    e = '(tag == "a" or tag == "b" or tag == "c") and price > 10 || other == 1'
    assert fingerprint(e) == "(tag == ? [OR x N: 2-9]) && price > ? || other == ?"
    mixed = 'a == 1 || b == 2 || a == 3'
    assert fingerprint(mixed) == "a == ? [OR x N: 2-9] || b == ?"


def test_deeply_nested_chain_from_a_real_log() -> None:
    """pymilvus users build OR chains with reduce(): 2,000 nested parentheses must not break us."""
    e = 'meta["k"] == "v0"'
    for i in range(1, 2000):
        e = f'({e} or meta["k"] == "v{i}")'
    assert fingerprint(e) == 'meta["k"] == ? [OR x N: 1001+]'


def test_unparsable_filters_fall_back_to_token_normalisation() -> None:
    with pytest.raises(FilterSyntaxError):
        parse("a == 1 &&")
    assert fingerprint("a == 1 &&") == "a == ? &&"
    assert fingerprint("a == 2 AND") == "a == ? &&"
    assert fingerprint('a == "unterminated') == "a == ?"
    assert token_fingerprint("x in [1, 2, 3] and") == "x in [?+] &&"
    assert fingerprint("") == ""
    assert fingerprint("   ") == ""


def test_render_source_keeps_literals_and_rewrites_chains() -> None:
    tree = parse('(tag == "A" || tag == "B") && n > -2')
    assert render(tree, "source") == 'tag in ["A", "B"] && n > -2'
    assert render(parse("a - (b - c) == 1"), "shape") == "a - (b - c) == ?"
    assert render(parse("not (a == 1) && b"), "source") == "not (a == 1) && b"
