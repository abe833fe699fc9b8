"""The condition evaluator: three-valued logic, operators by type, thresholds, refs, strength."""

from __future__ import annotations

from typing import Any

import pytest

from bot.playbook.conditions import evaluate, strength
from bot.playbook.model import AllOf, AnyOf, Leaf, NotOf, Ref
from bot.playbook.versions import VersionSpecError, check_spec, in_range, parse_version


class FakeResolver:
    def __init__(self, values: dict[str, Any], thresholds: dict[str, float] | None = None) -> None:
        self.values, self.ths = values, thresholds or {}

    def get(self, ref: Ref) -> tuple[Any, str | None]:
        key = ref.name if ref.of == "value" else f"{ref.name}:{ref.of}"
        v = self.values.get(key)
        return (v, None) if v is not None else (None, f"no data for {key}")

    def threshold(self, name: str) -> float:
        return self.ths[name]


def sig(name: str, op: str, **kw: Any) -> Leaf:
    of = kw.pop("of", "value")
    return Leaf(lhs=Ref("signal", name, of), op=op, **kw)


def fact(name: str, op: str, type: str, **kw: Any) -> Leaf:
    return Leaf(lhs=Ref("fact", name), op=op, type=type, **kw)


def test_threshold_comparison_and_margin() -> None:
    res = FakeResolver({"queue_p99": 3900.0}, {"queue_high": 100.0})
    out = evaluate(sig("queue_p99", ">=", threshold="queue_high"), res)
    assert out.value is True and out.margins == [39.0]
    out = evaluate(sig("queue_p99", "<", threshold="queue_high"), res)
    assert out.value is False and out.margins == []


def test_unavailable_gives_unknown_with_the_reason() -> None:
    out = evaluate(sig("queue_p99", ">=", value=100), FakeResolver({}))
    assert out.value is None
    assert out.missing == [("queue_p99", "no data for queue_p99")]


def test_kleene_all_any_not() -> None:
    res = FakeResolver({"a": 10.0, "b": 1.0})
    true, false, unknown = sig("a", ">", value=5), sig("b", ">", value=5), sig("c", ">", value=5)
    assert evaluate(AllOf((true, unknown)), res).value is None
    assert evaluate(AllOf((false, unknown)), res).value is False  # false wins in all
    assert evaluate(AnyOf((true, unknown)), res).value is True  # true wins in any
    assert evaluate(AnyOf((false, unknown)), res).value is None
    assert evaluate(AnyOf((false, false)), res).value is False
    assert evaluate(NotOf(unknown), res).value is None
    assert evaluate(NotOf(false), res).value is True
    out = evaluate(AllOf((true, AnyOf((unknown, sig("d", "<", value=1))))), res)
    assert out.value is None and [m[0] for m in out.missing] == ["c", "d"]


def test_available_and_unavailable_are_always_decided() -> None:
    res = FakeResolver({"a": 1.0})
    assert evaluate(sig("a", "available"), res).value is True
    assert evaluate(sig("zz", "available"), res).value is False
    assert evaluate(sig("zz", "unavailable"), res).value is True


def test_ratio_to_baseline_and_ref_times_threshold() -> None:
    res = FakeResolver({"p99:ratio": 12.0, "reported": 2000.0, "p99": 8.0}, {"r": 3.0})
    assert evaluate(sig("p99", ">=", of="ratio", value=3), res).value is True
    leaf = fact("reported", ">=", "number", ref=Ref("signal", "p99"), times="r")
    out = evaluate(leaf, res)
    assert out.value is True and out.margins == [pytest.approx(2000 / 24)]
    assert evaluate(fact("reported", ">=", "number", ref=Ref("signal", "p99"), times=300), res).value is False
    assert evaluate(fact("reported", ">=", "number", ref=Ref("signal", "missing")), res).value is None


def test_string_list_bool_version_operators() -> None:
    res = FakeResolver({"t": "FLAT", "l": ["a", "b"], "e": [], "b": True, "v": "2.3.5"})
    assert evaluate(fact("t", "in", "string", value=["", "FLAT"]), res).value is True
    assert evaluate(fact("t", "not_in", "string", value=["HNSW"]), res).value is True
    assert evaluate(fact("l", "contains", "list", value="b"), res).value is True
    assert evaluate(fact("l", "not_contains", "list", value="b"), res).value is False
    assert evaluate(fact("e", "empty", "list"), res).value is True
    assert evaluate(fact("l", "not_empty", "list"), res).value is True
    assert evaluate(fact("b", "==", "bool", value=True), res).value is True
    assert evaluate(fact("v", ">=", "version", value="2.3.6"), res).value is False
    assert evaluate(fact("v", "<", "version", value="2.4"), res).value is True


def test_strength_grows_with_the_margin() -> None:
    assert strength([]) == 0.5
    assert strength([1.0]) == 0.5
    assert strength([10.0]) == 1.0
    assert 0.5 < strength([3.0]) < 1.0
    assert strength([100.0], weight=0.7) == 0.7


def test_versions() -> None:
    assert parse_version("v2.3.5-lite") == (2, 3, 5)
    assert parse_version("2.6") == (2, 6, 0)
    assert parse_version("milvus_lite-3.2.2") is None  # Milvus Lite's own numbering says nothing about features
    assert parse_version("unknown") is None
    assert in_range((2, 3, 5), ">=2.3.0,<2.3.6")
    assert not in_range((2, 3, 6), ">=2.3.0,<2.3.6")
    assert in_range((2, 6, 18), ">=2.6.17,<=2.6.18")
    with pytest.raises(VersionSpecError, match="cannot read version range"):
        check_spec("2.3 to 2.4")
