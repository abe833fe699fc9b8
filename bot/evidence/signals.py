"""Load and check playbooks/signals.yaml: the PromQL of every named signal.

A problem is reported as `SignalsError("<file>: signal <name>: <problem>")`, so a typo in the
catalogue fails at load time with the place to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args

import yaml

from bot.evidence.promql import PLACEHOLDER_SELECTOR, check_template
from bot.models import Unit

DEFAULT_SIGNALS_PATH = Path(__file__).resolve().parents[2] / "playbooks" / "signals.yaml"

UNITS: tuple[str, ...] = get_args(Unit)
COMBINES = ("max", "min", "sum", "avg")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SIGNAL_KEYS = {"title", "unit", "by", "combine", "value_label", "series", "chart", "phase", "order", "variants"}
_VARIANT_KEYS = {"label", "query", "needs_collection"}


class SignalsError(ValueError):
    """signals.yaml is malformed; the message names the file, the signal and the problem."""


@dataclass(frozen=True)
class Variant:
    label: str
    query: str  # the template, with SEL/CSEL/RANGE placeholders
    needs_collection: bool = False


@dataclass(frozen=True)
class SignalDef:
    name: str
    title: str
    unit: str
    variants: tuple[Variant, ...]
    by: str | None = None
    combine: str = "max"
    value_label: str | None = None
    series: bool = False
    chart: str | None = None
    phase: str | None = None
    order: int | None = None


def load_signals(path: str | Path | None = None) -> dict[str, SignalDef]:
    """name -> SignalDef, in file order. Cached per path; raises SignalsError."""
    return dict(_load_cached(str(Path(path).resolve() if path else DEFAULT_SIGNALS_PATH)))


@lru_cache(maxsize=8)
def _load_cached(path: str) -> tuple[tuple[str, SignalDef], ...]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise SignalsError(f"{p}: cannot read the signal catalogue: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SignalsError(f"{p}: not valid YAML: {e}") from e
    return tuple(parse_signals(data, source=str(p)).items())


def parse_signals(data: Any, source: str = "<signals>") -> dict[str, SignalDef]:
    if not isinstance(data, dict) or not isinstance(data.get("signals"), dict) or not data["signals"]:
        raise SignalsError(f"{source}: the top level needs a non-empty 'signals' mapping")
    out: dict[str, SignalDef] = {}
    for name, spec in data["signals"].items():
        out[str(name)] = _parse_signal(str(name), spec, source)
    return out


def _parse_signal(name: str, spec: Any, source: str) -> SignalDef:
    def err(problem: str) -> SignalsError:
        return SignalsError(f"{source}: signal {name!r}: {problem}")

    if not _NAME.match(name):
        raise err("the name must be lower_snake_case")
    if not isinstance(spec, dict):
        raise err("must be a mapping with title, unit and variants")
    unknown = set(spec) - _SIGNAL_KEYS
    if unknown:
        raise err(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_SIGNAL_KEYS)}")
    title = spec.get("title")
    if not isinstance(title, str) or not title.strip():
        raise err("'title' is missing or empty")
    unit = spec.get("unit")
    if unit not in UNITS:
        raise err(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    by = spec.get("by")
    if by is not None and (not isinstance(by, str) or not _LABEL.match(by)):
        raise err(f"'by' must be a label name, not {by!r}")
    combine = spec.get("combine", "max")
    if combine not in COMBINES:
        raise err(f"'combine' must be one of {', '.join(COMBINES)}, not {combine!r}")
    value_label = spec.get("value_label")
    if value_label is not None and (not isinstance(value_label, str) or not _LABEL.match(value_label)):
        raise err(f"'value_label' must be a label name, not {value_label!r}")
    series = spec.get("series", unit == "ms")
    if not isinstance(series, bool):
        raise err("'series' must be true or false")
    for key in ("chart", "phase"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise err(f"'{key}' must be a string")
    order = spec.get("order")
    if order is not None and not isinstance(order, int):
        raise err("'order' must be an integer")
    if spec.get("phase") is not None and spec.get("chart") is None:
        raise err("'phase' needs a 'chart' to belong to")

    raw_variants = spec.get("variants")
    if not isinstance(raw_variants, list) or not raw_variants:
        raise err("'variants' must be a non-empty list")
    variants: list[Variant] = []
    labels: set[str] = set()
    for i, v in enumerate(raw_variants, 1):
        where = f"variant {i}"
        if not isinstance(v, dict):
            raise err(f"{where} must be a mapping with label and query")
        unknown = set(v) - _VARIANT_KEYS
        if unknown:
            raise err(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_VARIANT_KEYS)}")
        label, query = v.get("label"), v.get("query")
        if not isinstance(label, str) or not label.strip():
            raise err(f"{where}: 'label' is missing or empty")
        if label in labels:
            raise err(f"{where}: label {label!r} is used twice")
        labels.add(label)
        if not isinstance(query, str) or not query.strip():
            raise err(f"{where} ({label}): 'query' is missing or empty")
        needs_collection = v.get("needs_collection", False)
        if not isinstance(needs_collection, bool):
            raise err(f"{where} ({label}): 'needs_collection' must be true or false")
        problem = check_template(query, allow_collection=needs_collection)
        if problem:
            raise err(f"{where} ({label}): {problem}")
        if by is not None and not re.search(rf"\bby\s*\([^)]*\b{by}\b", query):
            raise err(f"{where} ({label}): 'by: {by}' but the query does not group by {by}")
        variants.append(Variant(label=label, query=query.strip(), needs_collection=needs_collection))
    if all(v.needs_collection for v in variants):
        raise err("every variant needs a collection; add one for the whole cluster")
    return SignalDef(name=name, title=title.strip(), unit=unit, variants=tuple(variants), by=by, combine=combine,
                     value_label=value_label, series=series, chart=spec.get("chart"), phase=spec.get("phase"),
                     order=order)


__all__ = ["DEFAULT_SIGNALS_PATH", "PLACEHOLDER_SELECTOR", "SignalDef", "SignalsError", "Variant",
           "load_signals", "parse_signals"]
