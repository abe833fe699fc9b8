"""The digest's tunables, read from `digest.yaml` next to this module (data, not code)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SETTINGS_PATH = Path(__file__).with_name("digest.yaml")


class DigestSettingsError(ValueError):
    """digest.yaml is missing a key or holds a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class OutlierSettings:
    max_count: int
    p95_factor: float
    max_s: float
    limit: int


@dataclass(frozen=True, slots=True)
class DigestSettings:
    max_shapes: int
    top: int
    nq_bucket_bounds: tuple[int, ...]
    or_chain_bucket_starts: tuple[int, ...]
    param_bucket_bounds: tuple[int, ...]
    param_presence_only: frozenset[str]
    param_ignore: frozenset[str]
    sketch_relative_accuracy: float
    sketch_max_bins: int
    outliers: OutlierSettings
    guarantee_ts_labels: dict[str, str]

    def nq_bucket(self, nq: int | None) -> str:
        """NQ -> "1", "2-10", ..., "1001+"; "-" when the line has no NQ (Query)."""
        if nq is None:
            return "-"
        return _bucket_label(self.nq_bucket_bounds, nq)

    def param_bucket(self, value: int) -> str:
        return _bucket_label(self.param_bucket_bounds, value)

    def or_chain_bucket(self, n: int) -> str:
        starts = self.or_chain_bucket_starts
        i = bisect.bisect_right(starts, n) - 1
        if i < 0:
            return str(n)
        if i == len(starts) - 1:
            return f"{starts[i]}+"
        lo, hi = starts[i], starts[i + 1] - 1
        return str(lo) if lo == hi else f"{lo}-{hi}"


def _bucket_label(bounds: tuple[int, ...], value: int) -> str:
    """Inclusive upper bounds (1, 10, 100) -> "1", "2-10", "11-100", "101+"; values below 1 get "<1"."""
    if value < 1:
        return "<1"
    i = bisect.bisect_left(bounds, value)
    if i == len(bounds):
        return f"{bounds[-1] + 1}+"
    lo = 1 if i == 0 else bounds[i - 1] + 1
    hi = bounds[i]
    return str(hi) if lo == hi else f"{lo}-{hi}"


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise DigestSettingsError(f"{SETTINGS_PATH.name}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DigestSettingsError(f"{SETTINGS_PATH.name}: {key!r} must be {kind}, not {value!r}")
    return value


def _ints(data: dict[str, Any], key: str) -> tuple[int, ...]:
    values = _need(data, key, list)
    if not values or not all(isinstance(v, int) and v > 0 for v in values) or sorted(set(values)) != values:
        raise DigestSettingsError(f"{SETTINGS_PATH.name}: {key!r} must be increasing positive integers")
    return tuple(values)


def parse_settings(data: dict[str, Any]) -> DigestSettings:
    out = _need(data, "outliers", dict)
    acc = float(_need(data, "sketch_relative_accuracy", (int, float)))
    if not 0 < acc < 0.5:
        raise DigestSettingsError(f"{SETTINGS_PATH.name}: sketch_relative_accuracy must be in (0, 0.5)")
    labels = _need(data, "guarantee_ts_labels", dict)
    return DigestSettings(
        max_shapes=max(1, int(_need(data, "max_shapes", int))),
        top=max(1, int(_need(data, "top", int))),
        nq_bucket_bounds=_ints(data, "nq_bucket_bounds"),
        or_chain_bucket_starts=_ints(data, "or_chain_bucket_starts"),
        param_bucket_bounds=_ints(data, "param_bucket_bounds"),
        param_presence_only=frozenset(str(x) for x in data.get("param_presence_only") or []),
        param_ignore=frozenset(str(x) for x in data.get("param_ignore") or []),
        sketch_relative_accuracy=acc,
        sketch_max_bins=max(16, int(_need(data, "sketch_max_bins", int))),
        outliers=OutlierSettings(
            max_count=int(_need(out, "max_count", int)),
            p95_factor=float(_need(out, "p95_factor", (int, float))),
            max_s=float(_need(out, "max_s", (int, float))),
            limit=int(_need(out, "limit", int)),
        ),
        guarantee_ts_labels={str(k): str(v) for k, v in labels.items()},
    )


@lru_cache(maxsize=1)
def load_settings(path: str | None = None) -> DigestSettings:
    p = Path(path) if path else SETTINGS_PATH
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise DigestSettingsError(f"cannot read digest settings {p}: {e}") from e
    if not isinstance(data, dict):
        raise DigestSettingsError(f"{p}: expected a mapping at the top level")
    return parse_settings(data)
