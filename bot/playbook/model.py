"""The loaded, validated form of the playbook files (rules, thresholds, versions, catalogues)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import ConfigError

SEVERITIES = ("critical", "warning", "info")
SCOPES = ("collection", "shape", "field", "json", "regression")
# Namespaces of facts that always exist (not tied to a for_each scope).
GLOBAL_NAMESPACES = ("cluster", "milvus", "request", "window", "slowlog")

COMPARE_OPS = (">", ">=", "<", "<=", "==", "!=")
TYPE_OPS: dict[str, tuple[str, ...]] = {
    "number": COMPARE_OPS,
    "version": COMPARE_OPS,
    "string": ("==", "!=", "in", "not_in"),
    "bool": ("==", "!="),
    "list": ("contains", "not_contains", "empty", "not_empty"),
}
PRESENCE_OPS = ("available", "unavailable")
UNARY_OPS = (*PRESENCE_OPS, "empty", "not_empty")
SIGNAL_OF = ("value", "baseline", "ratio")


class PlaybookError(ConfigError):
    """A playbook problem, phrased for a human: names the file, the rule and the problem."""

    def __init__(self, file: str | Path, rule: str | None, problem: str) -> None:
        self.file = str(file)
        self.rule = rule
        self.problem = problem
        where = f"{self.file}: rule {rule!r}: " if rule else f"{self.file}: "
        super().__init__(where + problem)


class PlaybookErrors(PlaybookError):
    """Several problems at once (lint reports them all)."""

    def __init__(self, errors: list[PlaybookError]) -> None:
        self.errors = errors
        ConfigError.__init__(self, "\n".join(str(e) for e in errors))
        self.file, self.rule, self.problem = errors[0].file, errors[0].rule, errors[0].problem


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Ref:
    """A value a condition reads: a signal (its value, baseline or ratio to baseline) or a fact."""

    kind: str  # "signal" | "fact"
    name: str
    of: str = "value"  # signals only

    @property
    def label(self) -> str:
        if self.kind == "signal":
            return self.name if self.of == "value" else f"{self.name} {self.of}"
        return self.name


@dataclass(frozen=True)
class Leaf:
    lhs: Ref
    op: str
    value: Any = None
    threshold: str | None = None
    ref: Ref | None = None
    times: float | str | None = None  # multiplier of a ref: a number or a threshold name
    type: str = "number"  # the lhs type (signals are numbers)


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class NotOf:
    item: Condition


Condition = Leaf | AllOf | AnyOf | NotOf


def condition_refs(cond: Condition) -> list[Ref]:
    """Every signal/fact a condition reads, in order."""
    if isinstance(cond, Leaf):
        return [cond.lhs] + ([cond.ref] if cond.ref else [])
    if isinstance(cond, NotOf):
        return condition_refs(cond.item)
    return [r for c in cond.items for r in condition_refs(c)]


# --------------------------------------------------------------------------- rules


@dataclass
class Template:
    """A jinja2 template from a rule file, compiled once at load."""

    source: str
    where: str  # "summary", "evidence[2]", ... for error messages
    compiled: Any = None


@dataclass
class Rule:
    id: str
    cause: str
    title: Template
    severity: str
    when: Condition
    file: str
    summary: Template
    evidence: list[Template] = field(default_factory=list)
    fix: list[Template] = field(default_factory=list)
    code: list[Template] = field(default_factory=list)
    links: list[Template] = field(default_factory=list)
    healthy: Template | None = None
    for_each: str | None = None
    versions: str | None = None
    group: str | None = None
    unless_fired: tuple[str, ...] = ()
    only_if_no_findings: bool = False
    symptom: bool = False
    weight: float = 1.0
    seed: str = ""  # the seed-playbook signal this rule encodes (for docs)
    description: str = ""
    order: int = 0  # position over all files, for stable ranking

    @property
    def signals(self) -> list[str]:
        seen: list[str] = []
        for r in condition_refs(self.when):
            if r.kind == "signal" and r.name not in seen:
                seen.append(r.name)
        return seen


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    unit: str
    doc: str = ""


@dataclass
class Regression:
    id: str
    versions: str
    title: str
    note: str
    fix: str
    links: list[str]
    when: Condition | None = None


@dataclass
class ObservabilityNote:
    versions: str
    note: Template


@dataclass
class FactDef:
    name: str
    type: str
    doc: str = ""

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass
class Playbooks:
    """Everything under playbooks/, loaded and validated."""

    directory: Path
    rules: list[Rule]
    thresholds: dict[str, Threshold]
    causes: dict[str, dict[str, Any]]
    facts: dict[str, FactDef]
    scopes: dict[str, str]
    signals: dict[str, str]  # name -> unit
    signal_titles: dict[str, str]
    features: dict[str, str]  # feature -> first version
    scalar_index_types: list[tuple[str, dict[str, str]]]  # (version spec, data type -> index type)
    scalar_index_unknown_version: dict[str, str]
    alternative_indexes: list[dict[str, Any]]  # versions.yaml alternative_indexes
    regressions: list[Regression]
    observability: list[ObservabilityNote]
    env: Any = None  # the jinja2 sandbox the templates were compiled in

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def thresholds_for(self, overrides: dict[str, float] | None = None, cluster: str | None = None) -> dict[str, float]:
        """Default thresholds with a cluster's overrides applied; an unknown override name is an error."""
        values = {name: t.value for name, t in self.thresholds.items()}
        for name, v in (overrides or {}).items():
            if name not in values:
                import difflib

                close = difflib.get_close_matches(name, list(values), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                who = f"cluster {cluster!r}" if cluster else "overrides"
                raise PlaybookError(
                    self.directory / "thresholds.yaml", None,
                    f"{who}: thresholds: unknown threshold {name!r}{hint}",
                )
            values[name] = float(v)
        return values
