"""Evaluate rule conditions over signals and facts, with three values: true, false, unknown.

Unknown is what a condition on an unavailable signal or fact gives; it spreads by Kleene logic
(all: false wins, then unknown; any: true wins, then unknown), so a rule neither fires nor is
called healthy on evidence it does not have, and the reply can say what could not be checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.playbook.model import AllOf, AnyOf, Condition, Leaf, NotOf, Ref
from bot.playbook.versions import compare, parse_version


class Resolver(Protocol):
    def get(self, ref: Ref) -> tuple[Any, str | None]:
        """(value, None) or (None, why it is unavailable)."""

    def threshold(self, name: str) -> float: ...


@dataclass
class Outcome:
    value: bool | None  # None = unknown
    missing: list[tuple[str, str]] = field(default_factory=list)  # (what, why) behind an unknown
    margins: list[float] = field(default_factory=list)  # how far past each threshold that held (>= 1)


def evaluate(cond: Condition, res: Resolver) -> Outcome:
    if isinstance(cond, Leaf):
        return _leaf(cond, res)
    if isinstance(cond, NotOf):
        inner = evaluate(cond.item, res)
        return Outcome(None if inner.value is None else not inner.value, inner.missing)
    outs = [evaluate(c, res) for c in cond.items]
    if isinstance(cond, AllOf):
        if any(o.value is False for o in outs):
            return Outcome(False)
        if any(o.value is None for o in outs):
            return Outcome(None, _merge_missing(o for o in outs if o.value is None))
        return Outcome(True, margins=[m for o in outs for m in o.margins])
    assert isinstance(cond, AnyOf)
    if any(o.value is True for o in outs):
        return Outcome(True, margins=[m for o in outs if o.value is True for m in o.margins])
    if any(o.value is None for o in outs):
        return Outcome(None, _merge_missing(o for o in outs if o.value is None))
    return Outcome(False)


def strength(margins: list[float], weight: float = 1.0) -> float:
    """0..1 from how far the evidence passed its thresholds: 1x -> 0.5, 10x -> 1.0."""
    if not margins:
        base = 0.5
    else:
        scores = [min(1.0, max(0.3, 0.5 + 0.5 * math.log10(max(m, 1e-9)))) for m in margins]
        base = sum(scores) / len(scores)
    return round(min(1.0, base * weight), 3)


def _merge_missing(outs: Any) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for o in outs:
        for m in o.missing:
            if m not in seen:
                seen.append(m)
    return seen


def _leaf(leaf: Leaf, res: Resolver) -> Outcome:
    lhs, why = res.get(leaf.lhs)
    if leaf.op == "available":
        return Outcome(lhs is not None)
    if leaf.op == "unavailable":
        return Outcome(lhs is None)
    if lhs is None:
        return Outcome(None, [(leaf.lhs.label, why or "unavailable")])
    if leaf.op in ("empty", "not_empty"):
        empty = len(lhs) == 0
        return Outcome(empty if leaf.op == "empty" else not empty)
    if leaf.threshold is not None:
        rhs: Any = res.threshold(leaf.threshold)
    elif leaf.ref is not None:
        rhs, rwhy = res.get(leaf.ref)
        if rhs is None:
            return Outcome(None, [(leaf.ref.label, rwhy or "unavailable")])
        if leaf.times is not None:
            factor = res.threshold(leaf.times) if isinstance(leaf.times, str) else float(leaf.times)
            rhs = float(rhs) * factor
    else:
        rhs = leaf.value
    ok = _compare(leaf.type, lhs, leaf.op, rhs)
    margins: list[float] = []
    if ok and leaf.type == "number" and leaf.op in (">", ">=", "<", "<="):
        margins.append(_margin(float(lhs), leaf.op, float(rhs)))
    return Outcome(ok, margins=margins)


def _margin(lhs: float, op: str, rhs: float) -> float:
    if op in (">", ">="):
        return lhs / rhs if rhs > 0 else 10.0
    return rhs / lhs if lhs > 0 else 10.0


def _compare(ftype: str, lhs: Any, op: str, rhs: Any) -> bool:
    if ftype == "list":
        items = [str(x) for x in lhs]
        return (str(rhs) in items) if op == "contains" else (str(rhs) not in items)
    if ftype == "string":
        if op == "in":
            return str(lhs) in rhs
        if op == "not_in":
            return str(lhs) not in rhs
    if ftype == "version":
        a, b = parse_version(str(lhs)), parse_version(str(rhs))
        if a is None or b is None:
            return False
        return compare(a, op, b)
    if ftype == "number":
        a, b = float(lhs), float(rhs)
        if math.isnan(a) or math.isnan(b):
            return False
        return compare_num(a, op, b)
    return {"==": lhs == rhs, "!=": lhs != rhs}[op]


def compare_num(a: float, op: str, b: float) -> bool:
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "==": a == b, "!=": a != b}[op]
