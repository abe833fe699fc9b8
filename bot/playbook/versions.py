"""Milvus version strings and version-range specs, as used by playbooks and versions.yaml.

Written by hand instead of `packaging`: Milvus versions such as "v2.3.5-lite" are not PEP 440,
and the specs we need are tiny ("<2.4.0", ">=2.3.0,<2.3.6").
"""

from __future__ import annotations

import re

Version = tuple[int, int, int]

_NUM = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*v?(\d+(?:\.\d+){0,2})\s*$")


class VersionSpecError(ValueError):
    """A version range in a playbook or versions.yaml that cannot be read."""


def parse_version(text: str | None) -> Version | None:
    """'v2.3.5-lite' -> (2, 3, 5); '2.6' -> (2, 6, 0). None when it is not a Milvus server version.

    Milvus Lite reports its own package version ("milvus_lite-3.2.2"), which says nothing about
    the Milvus features behind it, so it counts as unknown.
    """
    if not text:
        return None
    t = text.strip().lower()
    if "lite-" in t and t.startswith("milvus"):
        return None
    m = _NUM.search(t)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def format_version(v: Version) -> str:
    return ".".join(str(p) for p in v)


def _clauses(spec: str) -> list[tuple[str, Version]]:
    out: list[tuple[str, Version]] = []
    for part in spec.split(","):
        m = _CLAUSE.match(part)
        if m is None:
            raise VersionSpecError(
                f"cannot read version range {spec!r}: use clauses like '>=2.3.0,<2.3.6' (operators >= > <= < == !=)"
            )
        v = parse_version(m.group(2))
        assert v is not None
        out.append((m.group(1), v))
    return out


def check_spec(spec: str) -> None:
    """Raise VersionSpecError when `spec` cannot be read."""
    if not isinstance(spec, str) or not spec.strip():
        raise VersionSpecError(f"version range must be a non-empty string, not {spec!r}")
    _clauses(spec)


def compare(a: Version, op: str, b: Version) -> bool:
    return {
        ">=": a >= b, ">": a > b, "<=": a <= b, "<": a < b, "==": a == b, "!=": a != b,
    }[op]


def in_range(version: Version, spec: str) -> bool:
    return all(compare(version, op, v) for op, v in _clauses(spec))
