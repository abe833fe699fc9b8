"""What a filter expression does, for the playbooks: fields and operators, OR chains, JSON paths,
leading-wildcard `like`, unindexed fields (with Milvus collection facts), and the filter rewritten
with its OR chains as `field in [...]`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.digest.expr import COMPARISON, FilterSyntaxError, Node, eq_pair, or_chains, parse, string_value
from bot.digest.fingerprint import render
from bot.digest.model import FilterAnalysis
from bot.slowlog.parser import HYBRID_JOIN
from bot.slowlog.request import SlowRequest

if TYPE_CHECKING:  # only for annotations: bot.models would import pydantic
    from bot.models import CollectionFacts

log = logging.getLogger(__name__)

# Operators under which a field is "tested"; arithmetic passes its parent's operator down.
_PREDICATES = COMPARISON | {"in", "not in", "like"}


def analyze_request(req: SlowRequest, collection: CollectionFacts | None = None) -> FilterAnalysis:
    """The analysis of a request's filter; a HybridSearch's sub-filters are analysed together."""
    exprs = [d for d in req.dsls if d] if req.dsls else ([req.dsl] if req.dsl else [])
    if len(exprs) <= 1:
        return analyze(exprs[0] if exprs else "", collection)
    parts = [analyze(e, collection) for e in exprs]
    out = FilterAnalysis()
    for p in parts:
        for name, ops in p.fields.items():
            _add_all(out.fields.setdefault(name, []), ops)
        for name, n in p.or_chains.items():
            if n > out.or_chains.get(name, 0):
                out.or_chains[name] = n
                out.or_chain_values[name] = p.or_chain_values[name]
        _add_all(out.json_paths, p.json_paths)
        _add_all(out.json_fields, p.json_fields)
        _add_all(out.leading_wildcard_like, p.leading_wildcard_like)
        _add_all(out.unindexed_fields, p.unindexed_fields)
        _add_all(out.unindexed_json_paths, p.unindexed_json_paths)
        out.parse_error = out.parse_error or p.parse_error
    if any(p.rewritten for p in parts):
        out.rewritten = HYBRID_JOIN.join(p.rewritten or e for p, e in zip(parts, exprs, strict=True))
    return out


def analyze(expr: str, collection: CollectionFacts | None = None) -> FilterAnalysis:
    out = FilterAnalysis()
    if not expr or not expr.strip():
        return out
    try:
        tree = parse(expr)
    except FilterSyntaxError as e:
        out.parse_error = str(e)
        return out
    try:
        _collect(tree, out, collection)
        if out.or_chains:
            try:
                out.rewritten = render(tree, "source")
            except RecursionError:
                out.parse_error = "too deeply nested to rewrite"
        if collection is not None:
            _unindexed(out, collection)
    except Exception as e:  # a bug here must cost this analysis only, never the digest
        log.exception("filter analysis failed for %.200r", expr)
        out.parse_error = f"analysis failed: {type(e).__name__}"
    return out


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _add_all(items: list[str], values: list[str]) -> None:
    for v in values:
        _add(items, v)


def _is_json_ref(ref: Node, collection: CollectionFacts | None) -> bool:
    if not ref.path:
        return False
    if any(p[:1] in "\"'" for p in ref.path) or ref.text == "$meta":
        return True
    facts = collection.field(ref.text) if collection is not None else None
    return facts is not None and facts.data_type.upper() == "JSON"


def _collect(tree: Node, out: FilterAnalysis, collection: CollectionFacts | None) -> None:
    todo: list[tuple[Node, str]] = [(tree, "bool")]
    while todo:
        node, ctx = todo.pop()
        k = node.kind
        if k == "ref":
            _add(out.fields.setdefault(node.text, []), ctx)
            if _is_json_ref(node, collection):
                _add(out.json_paths, node.ref_text)
                _add(out.json_fields, node.text)
            continue
        if k == "bin":
            if node.op in _PREDICATES:
                ctx = node.op
                if node.op == "like":
                    left, right = node.kids
                    if (left.kind == "ref" and right.kind == "lit" and right.lk == "str"
                            and string_value(right.text)[:1] in ("%", "_")):
                        _add(out.leading_wildcard_like, left.ref_text)
        elif k == "bool":
            ctx = "bool"
            if node.op == "||":
                for field_text, idxs in or_chains(node):
                    if len(idxs) > out.or_chains.get(field_text, 0):
                        out.or_chains[field_text] = len(idxs)
                        out.or_chain_values[field_text] = [_chain_literal(node.kids[i]) for i in idxs]
        elif k == "call":
            ctx = node.text
        elif k == "range":
            ctx = "range"
        elif k == "post":
            ctx = node.op
        elif k == "un" and node.op in ("not", "exists"):
            ctx = "bool" if node.op == "not" else "exists"
        todo.extend((kid, ctx) for kid in reversed(node.kids))


def _chain_literal(node: Node) -> str:
    pair = eq_pair(node)
    assert pair is not None
    return pair[1].text


def _unindexed(out: FilterAnalysis, collection: CollectionFacts) -> None:
    """Fields the filter tests that have no scalar index. Needs the collection's schema; primary keys
    count as indexed, and a name the schema lacks is a dynamic field (inside `$meta`), never indexed.
    A JSON path index covers its own path only; a JSON index without a path covers the whole field."""
    if not collection.fields:
        return
    for name in out.fields:
        facts = collection.field(name)
        if facts is None:
            _add(out.unindexed_fields, name)
            continue
        if facts.is_primary or facts.is_vector:
            continue
        indexes = [i for i in collection.indexes if i.field_name == name and i.index_type]
        if not indexes and facts.index is not None and facts.index.index_type:
            indexes = [facts.index]
        paths = [p for p in out.json_paths if _root(p) == name]
        if not indexes:
            _add(out.unindexed_fields, name)
            _add_all(out.unindexed_json_paths, paths)
            continue
        covered = {_canonical_path(str(i.params["json_path"])) for i in indexes if i.params.get("json_path")}
        if any(not i.params.get("json_path") for i in indexes) or name in covered:
            continue  # an index on the whole field
        missed = [p for p in paths if p not in covered]
        if missed:
            _add_all(out.unindexed_json_paths, missed)
            _add(out.unindexed_fields, name)


def _root(path: str) -> str:
    i = path.find("[")
    return path if i < 0 else path[:i].rstrip()


def _canonical_path(path: str) -> str:
    try:
        tree = parse(path)
    except FilterSyntaxError:
        return path
    return tree.ref_text if tree.kind == "ref" else path
