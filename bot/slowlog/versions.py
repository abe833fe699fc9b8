"""Milvus version strings and the slow-log threshold of each version (data: thresholds.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

# One Milvus version reader for the whole bot (playbooks, evidence, slow log); re-exported here.
from bot.playbook.versions import Version as Version
from bot.playbook.versions import parse_version as parse_version


@dataclass(frozen=True)
class Threshold:
    threshold_s: float
    per_nq: bool
    configurable: str | None  # the config key, or None when hard-coded
    note: str


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files("bot.slowlog").joinpath("thresholds.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("ranges"), list):
        raise ValueError("bot/slowlog/thresholds.yaml: expected a mapping with a 'ranges' list")
    return data


def threshold_for(version: Version | None) -> Threshold | None:
    """The slow-log threshold for a Milvus version, or None when the version is unknown or too old."""
    if version is None:
        return None
    for r in _table()["ranges"]:
        lo, hi = parse_version(str(r["from"])), parse_version(str(r["to"]))
        if lo is not None and hi is not None and lo <= version <= hi:
            return Threshold(float(r["threshold_s"]), bool(r["per_nq"]), r.get("configurable"), str(r.get("note", "")))
    return None


def inferred_threshold(family: str) -> Threshold | None:
    """The threshold told by the line format alone ('legacy' = the 2.3/2.4 Search line)."""
    r = (_table().get("inferred") or {}).get(family)
    if not r:
        return None
    return Threshold(float(r["threshold_s"]), bool(r["per_nq"]), None, str(r.get("note", "")))
