"""Filter fingerprints: a Milvus filter with its literals abstracted, like pt-query-digest's.

`fingerprint('user == "a" && age > 3')` -> `user == ? && age > ?`. Normalised on the way:
whitespace, keyword spelling (`and`/`AND` -> `&&`, `or` -> `||`, `!` -> `not`, `IN` -> `in`),
redundant parentheses, string quoting of JSON path keys, and
- a list of literals of any length -> `[?+]` (`id in [1, 2, 3]` -> `id in [?+]`);
- an OR chain of N equalities on one field -> one term with N bucketed,
  `tag == "a" || tag == "b" || ...` -> `tag == ? [OR x N: 10-100]`;
- a `like` pattern keeps only whether it starts with a wildcard: `like ?` or `like %?`.
JSON path keys (`meta["k"]`), `{templates}`, field and function names stay as they are.

Fingerprinting runs once per slow line, so results are cached by a *skeleton*: the expression with
its literals blanked by one C-level regex pass. Expressions that differ only in literal values (the
common case) then share one parse. The skeleton is only a cache key; the parse decides the shape.
"""

from __future__ import annotations

import hashlib
import logging
import re

from bot.digest.expr import (
    ATOM_PREC,
    PREC,
    RELATIONAL,
    RIGHT_ASSOC,
    UNARY_PREC,
    FilterSyntaxError,
    Node,
    or_chains,
    parse,
    string_value,
    tokenize,
)
from bot.digest.settings import load_settings
from bot.slowlog.accel import speedups

log = logging.getLogger(__name__)

_UNARY_TEXT = {"not": "not ", "neg": "-", "pos": "+", "bnot": "~", "exists": "exists "}

# --------------------------------------------------------------------------- rendering


def render(node: Node, mode: str = "shape") -> str:
    """A tree -> text. mode "shape": literals as `?`, OR chains folded; "source": literals as
    written, OR chains rewritten as `field in [...]`. Raises RecursionError on absurd nesting."""
    return _render(node, mode)[0]


def _wrap(text: str, prec: int, need: int, strict: bool) -> str:
    return f"({text})" if prec < need or (strict and prec == need) else text


def _render(node: Node, mode: str) -> tuple[str, int]:
    k = node.kind
    if k == "lit":
        return ("?" if mode == "shape" else node.text), ATOM_PREC
    if k == "tmpl":
        return node.text, ATOM_PREC
    if k == "ref":
        return node.ref_text, ATOM_PREC
    if k == "list":
        if mode == "shape" and node.kids and all(c.kind == "lit" for c in node.kids):
            return "[?+]", ATOM_PREC
        return "[" + ", ".join(_render(c, mode)[0] for c in node.kids) + "]", ATOM_PREC
    if k == "call":
        return node.text + "(" + ", ".join(_render(c, mode)[0] for c in node.kids) + ")", ATOM_PREC
    if k == "un":
        text, prec = _render(node.kids[0], mode)
        return _UNARY_TEXT[node.op] + _wrap(text, prec, UNARY_PREC, False), UNARY_PREC
    if k == "post":
        text, prec = _render(node.kids[0], mode)
        return f"{_wrap(text, prec, ATOM_PREC, False)} {node.op}", ATOM_PREC - 1
    if k == "range":
        lo, ref, hi = (_render(c, mode) for c in node.kids)
        p = PREC["<"]
        return (f"{_wrap(lo[0], lo[1], p, True)} {node.op} {ref[0]} {node.op2} {_wrap(hi[0], hi[1], p, True)}",
                p)
    if k == "bin":
        return _render_bin(node, mode)
    if k == "bool":
        return _render_bool(node, mode)
    raise ValueError(f"unknown node kind {k!r}")


def _render_bin(node: Node, mode: str) -> tuple[str, int]:
    op = node.op
    p = PREC[op]
    (lt, lp), (rt, rp) = (_render(c, mode) for c in node.kids)
    if op == "like" and mode == "shape" and node.kids[1].kind == "lit" and node.kids[1].lk == "str":
        rt = "%?" if string_value(node.kids[1].text)[:1] in ("%", "_") else "?"
    # A relational operand that is itself relational gets parentheses, or it would read as a range.
    left_strict = op in RIGHT_ASSOC or (op in RELATIONAL and node.kids[0].kind == "bin"
                                        and node.kids[0].op in RELATIONAL)
    left = _wrap(lt, lp, p, left_strict)
    right = _wrap(rt, rp, p, op not in RIGHT_ASSOC)
    return f"{left} {op} {right}", p


def _render_bool(node: Node, mode: str) -> tuple[str, int]:
    p = PREC[node.op]
    chains = or_chains(node) if node.op == "||" else []
    folded: dict[int, tuple[str, int]] = {}  # index of a chain's first operand -> the chain's text
    skip: set[int] = set()
    for field_text, idxs in chains:
        if mode == "shape":
            bucket = load_settings().or_chain_bucket(len(idxs))
            folded[idxs[0]] = (f"{field_text} == ? [OR x N: {bucket}]", PREC["=="])
        else:
            values = _chain_literals(node, idxs)
            folded[idxs[0]] = (f"{field_text} in [{', '.join(values)}]", PREC["in"])
        skip.update(idxs[1:])
    parts: list[tuple[str, int]] = []
    for idx, kid in enumerate(node.kids):
        if idx in skip:
            continue
        parts.append(folded[idx] if idx in folded else _render(kid, mode))
    if len(parts) == 1:
        return parts[0] if mode == "source" else (parts[0][0], p)
    return f" {node.op} ".join(_wrap(t, q, p, True) for t, q in parts), p


def _chain_literals(node: Node, idxs: list[int]) -> list[str]:
    """The literals of an OR chain as written, first occurrence of each value kept."""
    seen: set[str] = set()
    out: list[str] = []
    for i in idxs:
        a, b = node.kids[i].kids
        lit = b if b.kind == "lit" else a
        key = string_value(lit.text) if lit.lk == "str" else lit.text
        if key not in seen:
            seen.add(key)
            out.append(lit.text)
    return out


# --------------------------------------------------------------------------- fallback

_WORDS = {"and": "&&", "or": "||", "not": "not", "in": "in", "like": "like", "is": "is", "null": "null",
          "exists": "exists"}
_LOOSE_LIT = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|\'[^\'\\]*(?:\\.[^\'\\]*)*\'?|(?<![\w$.])-?\d+(?:\.\d+)?')
_LOOSE_LIST = re.compile(r"\[\s*\?(?:\s*,\s*\?)*\s*,?\s*\]")
_SPACES = re.compile(r"\s+")


def token_fingerprint(expr: str) -> str:
    """For text the parser rejects: literals -> ?, keywords normalised, literal lists collapsed."""
    try:
        toks = tokenize(expr)
    except FilterSyntaxError:
        text = _LOOSE_LIT.sub("?", expr)
        return _LOOSE_LIST.sub("[?+]", _SPACES.sub(" ", text).strip())
    parts: list[str] = []
    for t in toks:
        if t.kind in ("str", "num"):
            parts.append("?")
        elif t.kind == "ident":
            low = t.text.lower()
            parts.append("?" if low in ("true", "false") else _WORDS.get(low, t.text))
        elif t.text == "!":
            parts.append("not")
        else:
            parts.append(t.text)
    return _LOOSE_LIST.sub("[?+]", " ".join(parts))


# --------------------------------------------------------------------------- cached entry point

# The cache key: the expression with every literal blanked (one C-level pass with a constant
# replacement), plus the only literal values a shape depends on: bracketed single literals
# (JSON path keys like `meta["k"]`, array indexes; single-element lists too, harmlessly) and the
# first character of `like` patterns. Blanking less than the tokenizer would only cost cache hits;
# the patterns never blank more (numbers inside identifiers are left alone).
_STR = r"\"[^\"\\]*(?:\\.[^\"\\]*)*\"|'[^'\\]*(?:\\.[^'\\]*)*'"
_NUM = r"0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
# The lookahead lets sre skip to candidate characters before trying the alternatives (~1.5x faster).
_BLANK = re.compile(r"(?=[\"'0-9.])(?:" + _STR + r"|(?<![\w$.])(?:" + _NUM + "))")
_BRACKETED = re.compile(r"\[\s*(?:" + _STR + "|" + _NUM + r")\s*\]")
_LIKE_LEAD = re.compile(r"(?i:like)\s*([\"'][%_]?)")
_BLANK_LIST = re.compile(r"\[\s*\?(?:\s*,\s*\?)*\s*,?\s*\]")
_CACHE_MAX = 8192
_EXACT_MAX_LEN = 256
_KEY_INLINE = 1024  # longer skeletons are keyed by a digest, so the cache stays small

_cache: dict[tuple[str | bytes, tuple[str, ...], tuple[str, ...]], str] = {}
_exact: dict[str, str] = {}


def skeleton(expr: str) -> str:
    """The expression with its literals blanked and lists of blanks collapsed: the cache key's text.
    What `_speedups.skeleton` computes in one pass where it can."""
    sk = _BLANK.sub("?", expr)
    return _BLANK_LIST.sub("[?+]", sk) if "[" in expr else sk


_c_skeleton = speedups.skeleton if speedups is not None else None


def _cache_key(expr: str) -> tuple[str | bytes, tuple[str, ...], tuple[str, ...]]:
    text = _c_skeleton(expr) if _c_skeleton is not None else None
    if text is None:
        text = skeleton(expr)
    bracket = "[" in expr
    sk: str | bytes = text
    if len(text) > _KEY_INLINE:
        sk = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest()
    paths = tuple(_BRACKETED.findall(expr)) if bracket else ()
    likes = tuple(_LIKE_LEAD.findall(expr)) if ("ike" in expr or "IKE" in expr) else ()
    return sk, paths, likes


def fingerprint(expr: str) -> str:
    """The shape of one filter expression ('' for no filter). Never raises."""
    if not expr:
        return ""
    short = len(expr) <= _EXACT_MAX_LEN
    if short:  # short filters often repeat verbatim; hashing long ones would cost more than it saves
        hit = _exact.get(expr)
        if hit is not None:
            return hit
    key = _cache_key(expr)
    shape = _cache.get(key)
    if shape is None:
        shape = compute_fingerprint(expr)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = shape
    if short:
        if len(_exact) >= _CACHE_MAX:
            _exact.clear()
        _exact[expr] = shape
    return shape


def compute_fingerprint(expr: str) -> str:
    """fingerprint() without the cache."""
    if not expr.strip():
        return ""
    try:
        return render(parse(expr), "shape")
    except (FilterSyntaxError, RecursionError):
        return token_fingerprint(expr)
    except Exception:  # a parser bug must cost one shape's precision, never the digest
        log.exception("fingerprinting failed; using the token fingerprint for %.200r", expr)
        return token_fingerprint(expr)


def clear_cache() -> None:
    _cache.clear()
    _exact.clear()
