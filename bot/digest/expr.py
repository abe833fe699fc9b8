"""Tokenizer and parser for Milvus boolean filter expressions (the `dsl`/`expr` of slow-log lines).

Covers the grammar of Milvus's `Plan.g4` (2.3 to 2.6): string literals in single or double quotes
with escapes, numbers (decimal, float, hex, octal, binary), booleans, `{name}` templates,
identifiers with JSON/array paths (`meta["k"][0]`, `$meta["x"]`), lists `[..]`, function calls
(`array_contains(..)`, `json_contains_any(..)`, `text_match(..)`, ...), arithmetic, comparisons,
range comparisons `1 < a < 5`, `like`, `in`/`not in`, `is [not] null`, `exists`, and the logical
operators in every spelling (`&&`/`and`/`AND`, `||`/`or`/`OR`, `!`/`not`/`NOT`).

The parser is an operator-precedence (shunting-yard) parser with explicit stacks rather than
recursive descent: real slow logs hold OR chains nested 1,000+ parentheses deep, which would
exhaust Python's recursion limit. Chains of the same logical operator are flattened into one
n-ary node while parsing, so the tree stays shallow for the renderers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# One master pattern; `lastgroup` names the token type. Strings are written unrolled (fast in sre).
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')
    |(?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<tmpl>\{\s*[^\W\d]\w*\s*\})
    |(?P<ident>\$?[^\W\d]\w*)
    |(?P<op>&&|\|\||==|!=|<=|>=|\*\*|<<|>>|[<>!+\-*/%&|^~])
    |(?P<lp>\()|(?P<rp>\))|(?P<lb>\[)|(?P<rb>\])|(?P<comma>,)
    |(?P<err>.)""",
    re.X | re.S,
)


class FilterSyntaxError(ValueError):
    """The text is not a Milvus filter expression this parser understands."""


@dataclass(slots=True)
class Token:
    kind: str  # str num tmpl ident op lp rp lb rb comma
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "err"
        if kind == "ws":
            continue
        if kind == "err":
            ch = m.group()
            if ch in "\"'":
                raise FilterSyntaxError(f"unterminated string starting at {m.start()}")
            raise FilterSyntaxError(f"unexpected character {ch!r} at {m.start()}")
        out.append(Token(kind, m.group(), m.start()))
    return out


# --------------------------------------------------------------------------- tree


@dataclass(slots=True)
class Node:
    """One node of a filter tree.

    kind: lit (text as written, lk = str/num/bool) | tmpl | ref (name + path) | list | call |
          un (op: not, neg, pos, bnot, exists) | post (op: is null, is not null) |
          bin (op: == != < <= > >= in "not in" like + - * / % ** << >> & | ^) |
          bool (op: && or ||, n-ary) | range (ops: op1, op2; kids: lo, ref, hi)
    """

    kind: str
    op: str = ""
    text: str = ""
    kids: list[Node] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # ref only: path elements as written ('"k"', '0')
    lk: str = ""  # lit only: str / num / bool
    paren: bool = False  # written inside parentheses (matters for range detection only)
    op2: str = ""  # range only: the second operator

    @property
    def ref_text(self) -> str:
        """A ref's canonical text: `meta["k"][0]` (string keys in double quotes)."""
        return self.text + "".join(f"[{canonical_key(p)}]" for p in self.path)


def canonical_key(p: str) -> str:
    return json.dumps(string_value(p), ensure_ascii=False) if p[:1] in "\"'" else p


def string_value(lit: str) -> str:
    """The value of a string literal as written ('a\\'b' -> a'b); unknown escapes are kept."""
    if len(lit) < 2:
        return lit
    inner = lit[1:-1]
    if "\\" not in inner:
        return inner
    out: list[str] = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", '"': '"', "'": "'", "/": "/"}
    while i < len(inner):
        ch = inner[i]
        if ch == "\\" and i + 1 < len(inner):
            nxt = inner[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", inner[i + 2:i + 6]):
                out.append(chr(int(inner[i + 2:i + 6], 16)))
                i += 6
                continue
        out.append(ch)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- grammar

# Binding strength, after the order of alternatives in Milvus's Plan.g4 (higher binds tighter).
PREC: dict[str, int] = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, "<=": 7, ">": 7, ">=": 7, "in": 8, "not in": 8, "<<": 9, ">>": 9,
    "+": 10, "-": 10, "*": 11, "/": 11, "%": 11, "**": 13, "like": 14,
}
UNARY_PREC = 12
POST_PREC = 15
ATOM_PREC = 100
RIGHT_ASSOC = frozenset({"**"})
RELATIONAL = frozenset({"<", "<=", ">", ">="})
COMPARISON = frozenset({"==", "!=", "<", "<=", ">", ">="})
_WORD_BINARY = {"and": "&&", "or": "||", "in": "in", "like": "like"}
_PREFIX_OPS = {"!": "not", "-": "neg", "+": "pos", "~": "bnot"}
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "is", "null", "exists", "true", "false"})


@dataclass(slots=True)
class _Mark:
    """An open bracket on the operator stack: a group `(`, a call `f(` or a list `[`."""

    kind: str  # group / call / list
    height: int  # len(output) when it opened
    name: str = ""


@dataclass(slots=True)
class _Op:
    op: str
    prec: int
    unary: bool = False


def parse(text: str) -> Node:
    """A filter expression -> its tree. Raises FilterSyntaxError; empty text is an error too."""
    toks = tokenize(text)
    if not toks:
        raise FilterSyntaxError("empty expression")
    out: list[Node] = []
    stack: list[_Op | _Mark] = []
    expect = True  # expecting an operand (vs an operator)
    i, n = 0, len(toks)

    def reduce_top() -> None:
        top = stack.pop()
        assert isinstance(top, _Op)
        try:
            if top.unary:
                out.append(_unary(top.op, out.pop()))
            else:
                right = out.pop()
                left = out.pop()
                out.append(combine(top.op, left, right))
        except IndexError:
            raise FilterSyntaxError(f"operator {top.op!r} lacks an operand") from None

    def reduce_for(prec: int, right_assoc: bool) -> None:
        while stack:
            top = stack[-1]
            if not isinstance(top, _Op):
                return
            if top.prec > prec or (top.prec == prec and not right_assoc and not top.unary):
                reduce_top()
            else:
                return

    def reduce_to_mark() -> _Mark:
        while stack and isinstance(stack[-1], _Op):
            reduce_top()
        if not stack:
            raise FilterSyntaxError("unbalanced closing bracket")
        mark = stack.pop()
        assert isinstance(mark, _Mark)
        return mark

    def push_binary(op: str) -> None:
        prec = PREC[op]
        reduce_for(prec, op in RIGHT_ASSOC)
        stack.append(_Op(op, prec))

    while i < n:
        t = toks[i]
        k = t.kind
        if k in ("str", "num", "tmpl"):
            if not expect:
                raise FilterSyntaxError(f"missing operator before {t.text[:20]!r} at {t.pos}")
            if k == "tmpl":
                out.append(Node("tmpl", text="{" + t.text[1:-1].strip() + "}"))
            else:
                out.append(Node("lit", text=t.text, lk=k))
            expect = False
        elif k == "ident":
            low = t.text.lower()
            if expect:
                nxt = toks[i + 1] if i + 1 < n else None
                if low == "not":
                    stack.append(_Op("not", UNARY_PREC, unary=True))
                elif low == "exists":
                    stack.append(_Op("exists", UNARY_PREC, unary=True))
                elif low in ("true", "false"):
                    out.append(Node("lit", text=t.text, lk="bool"))
                    expect = False
                elif low in _KEYWORDS:
                    raise FilterSyntaxError(f"unexpected keyword {t.text!r} at {t.pos}")
                elif nxt is not None and nxt.kind == "lp":
                    stack.append(_Mark("call", len(out), t.text.lower()))
                    i += 1
                else:
                    ref = Node("ref", text=t.text)
                    # A path: ident followed by [ "key" | 0 ] (one or more).
                    while (i + 3 < n and toks[i + 1].kind == "lb" and toks[i + 2].kind in ("str", "num")
                           and toks[i + 3].kind == "rb"):
                        ref.path.append(toks[i + 2].text)
                        i += 3
                    out.append(ref)
                    expect = False
            else:
                if low in _WORD_BINARY:
                    push_binary(_WORD_BINARY[low])
                    expect = True
                elif low == "not" and i + 1 < n and toks[i + 1].text.lower() == "in":
                    push_binary("not in")
                    i += 1
                    expect = True
                elif low == "is":
                    j = i + 1
                    negate = j < n and toks[j].text.lower() == "not"
                    if negate:
                        j += 1
                    if j >= n or toks[j].text.lower() != "null":
                        raise FilterSyntaxError(f"expected 'null' after 'is' at {t.pos}")
                    out.append(Node("post", op="is not null" if negate else "is null", kids=[out.pop()]))
                    i = j
                else:
                    raise FilterSyntaxError(f"missing operator before {t.text[:20]!r} at {t.pos}")
        elif k == "op":
            if expect:
                if t.text not in _PREFIX_OPS:
                    raise FilterSyntaxError(f"operator {t.text!r} lacks a left operand at {t.pos}")
                stack.append(_Op(_PREFIX_OPS[t.text], UNARY_PREC, unary=True))
            else:
                if t.text not in PREC:
                    raise FilterSyntaxError(f"{t.text!r} is not a binary operator (at {t.pos})")
                push_binary(t.text)
                expect = True
        elif k == "lp":
            if not expect:
                raise FilterSyntaxError(f"missing operator before '(' at {t.pos}")
            stack.append(_Mark("group", len(out)))
        elif k == "lb":
            if not expect:
                raise FilterSyntaxError(f"unexpected '[' at {t.pos}")
            stack.append(_Mark("list", len(out)))
        elif k == "comma":
            if expect:
                raise FilterSyntaxError(f"unexpected ',' at {t.pos}")
            while stack and isinstance(stack[-1], _Op):
                reduce_top()
            if not stack or not isinstance(stack[-1], _Mark) or stack[-1].kind == "group":
                raise FilterSyntaxError(f"',' outside a list or call at {t.pos}")
            expect = True
        elif k == "rp":
            if expect:
                # Only `f()` may close with nothing pending.
                top = stack[-1] if stack else None
                if not (isinstance(top, _Mark) and top.kind == "call" and len(out) == top.height):
                    raise FilterSyntaxError(f"unexpected ')' at {t.pos}")
            mark = reduce_to_mark()
            if mark.kind == "list":
                raise FilterSyntaxError(f"')' closes a '[' at {t.pos}")
            if mark.kind == "group":
                if len(out) != mark.height + 1:
                    raise FilterSyntaxError(f"empty or broken parentheses at {t.pos}")
                out[-1].paren = True
            else:
                args = out[mark.height:]
                del out[mark.height:]
                out.append(Node("call", text=mark.name, kids=args))
            expect = False
        elif k == "rb":
            if expect:  # `[]` or a trailing comma `[1, 2,]`
                top = stack[-1] if stack else None
                if not (isinstance(top, _Mark) and top.kind == "list"):
                    raise FilterSyntaxError(f"unexpected ']' at {t.pos}")
            mark = reduce_to_mark()
            if mark.kind != "list":
                raise FilterSyntaxError(f"']' closes a '(' at {t.pos}")
            items = out[mark.height:]
            del out[mark.height:]
            out.append(Node("list", kids=items))
            expect = False
        i += 1

    if expect:
        raise FilterSyntaxError("expression ends where an operand was expected")
    while stack:
        if isinstance(stack[-1], _Mark):
            raise FilterSyntaxError("unclosed bracket")
        reduce_top()
    if len(out) != 1:
        raise FilterSyntaxError("not a single expression")
    return out[0]


def _unary(op: str, x: Node) -> Node:
    if op in ("neg", "pos") and x.kind == "lit" and x.lk == "num" and not x.paren:
        return Node("lit", text=("-" if op == "neg" else "") + x.text, lk="num")
    return Node("un", op=op, kids=[x])


def combine(op: str, left: Node, right: Node) -> Node:
    """Build a binary node; flattens `a || b || c` into one node and reads `1 < a < 5` as a range."""
    if op in ("&&", "||"):
        if left.kind == "bool" and left.op == op:
            if right.kind == "bool" and right.op == op:
                left.kids.extend(right.kids)
            else:
                left.kids.append(right)
            left.paren = False
            return left
        if right.kind == "bool" and right.op == op:
            right.kids.insert(0, left)
            right.paren = False
            return right
        return Node("bool", op=op, kids=[left, right])
    if (op in RELATIONAL and left.kind == "bin" and left.op in RELATIONAL and not left.paren
            and left.kids[1].kind == "ref"):
        return Node("range", op=left.op, op2=op, kids=[left.kids[0], left.kids[1], right])
    return Node("bin", op=op, kids=[left, right])


def node_prec(node: Node) -> int:
    if node.kind == "bool" or node.kind == "bin":
        return PREC[node.op]
    if node.kind == "range":
        return PREC["<"]
    if node.kind == "un":
        return UNARY_PREC
    if node.kind == "post":
        return POST_PREC
    return ATOM_PREC


def walk(root: Node) -> list[Node]:
    """Every node, parents before children, without recursion."""
    out: list[Node] = []
    todo = [root]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(reversed(node.kids))
    return out


def eq_pair(node: Node) -> tuple[Node, Node] | None:
    """`field == literal` (either side) -> (ref, literal); anything else -> None."""
    if node.kind != "bin" or node.op != "==":
        return None
    a, b = node.kids
    if a.kind == "ref" and b.kind == "lit":
        return a, b
    if b.kind == "ref" and a.kind == "lit":
        return b, a
    return None


def or_chains(node: Node) -> list[tuple[str, list[int]]]:
    """In an `||` node: fields compared for equality with a literal in 2+ operands, with the operands' indexes."""
    groups: dict[str, list[int]] = {}
    for idx, kid in enumerate(node.kids):
        pair = eq_pair(kid)
        if pair is not None:
            groups.setdefault(pair[0].ref_text, []).append(idx)
    return [(f, idxs) for f, idxs in groups.items() if len(idxs) >= 2]
