"""Playbook tests, in the manner of `promtool test rules`: an evidence fixture in, expected findings out.

    tests:
      - name: large NQ with rising queue (real 2.3.5, 4 x nq=8192 in flight)
        version: "2.3.5"
        signals: {nq_per_request: 4800, queue_p99: {value: 3900, baseline: 1}}
        slowlog: {lines: ['[2026/11/24 ...] ["Search slow"] ... [nq=8192] [duration=9.5s]']}
        expect:
          fired: [large_nq_queueing]       # must fire
          not_fired: [high_qps_queueing]   # must not fire
          only: false                      # true: exactly `fired`, nothing else
          top: large_nq_queueing           # the first finding
          not_checked: ["queue_p99"]       # substrings of "could not check" lines
          text: ["nq=8192"]                # substrings of the rendered findings

Each case runs through the real pipeline (`bot.diagnosis.run_diagnosis`) with the fixture as evidence,
and renders the result as text and markdown, so a template that breaks on real data fails here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.config import AppConfig, ClusterConfig, ConfigError
from bot.models import TriageRequest
from bot.playbook.fixture import FixtureError, build_evidence, window_of
from bot.playbook.model import Playbooks

_CASE_KEYS = {"name", "description", "cluster", "version", "collection", "trigger", "reported_latency", "window",
              "thresholds", "signals", "slowlog", "milvus", "missing", "expect"}
_EXPECT_KEYS = {"fired", "not_fired", "only", "top", "not_checked", "healthy", "text", "no_text"}


@dataclass
class Case:
    file: str
    name: str
    spec: dict[str, Any]


@dataclass
class CaseResult:
    case: Case
    problems: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    output: str = ""  # the rendered text reply, for failures

    @property
    def passed(self) -> bool:
        return not self.problems


def find_test_files(pb: Playbooks, paths: list[str] | None = None) -> list[Path]:
    if paths:
        out: list[Path] = []
        for p in paths:
            path = Path(p)
            out += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        return out
    return sorted((pb.directory / "tests").glob("*.yaml"))


def load_cases(files: list[Path]) -> tuple[list[Case], list[str]]:
    """All cases, plus structural problems ("file: case 'x': unknown key 'expected'")."""
    cases: list[Case] = []
    problems: list[str] = []
    for f in files:
        rel = _rel(f)
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            problems.append(f"{rel}: cannot read: {e}")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
            problems.append(f"{rel}: expected a mapping with a 'tests' list")
            continue
        for i, spec in enumerate(data["tests"]):
            if not isinstance(spec, dict) or not spec.get("name"):
                problems.append(f"{rel}: test #{i + 1}: needs a name")
                continue
            unknown = set(spec) - _CASE_KEYS
            if unknown:
                problems.append(f"{rel}: test {spec['name']!r}: unknown key(s) {', '.join(sorted(unknown))}")
            expect = spec.get("expect") or {}
            if not isinstance(expect, dict) or not expect:
                problems.append(f"{rel}: test {spec['name']!r}: needs an 'expect' mapping")
            elif set(expect) - _EXPECT_KEYS:
                problems.append(f"{rel}: test {spec['name']!r}: unknown expect key(s) "
                                f"{', '.join(sorted(set(expect) - _EXPECT_KEYS))}")
            cases.append(Case(file=rel, name=str(spec["name"]), spec=spec))
    return cases, problems


def check_cases(pb: Playbooks, cases: list[Case]) -> list[str]:
    """Lint without running: expected rule ids exist, fixture signals exist."""
    ids = {r.id for r in pb.rules}
    problems = []
    for c in cases:
        expect = c.spec.get("expect") or {}
        named = list(expect.get("fired") or []) + list(expect.get("not_fired") or [])
        if expect.get("top"):
            named.append(expect["top"])
        for rid in named:
            if rid not in ids:
                close = difflib.get_close_matches(str(rid), ids, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"{c.file}: test {c.name!r}: unknown rule id {rid!r}{hint}")
        for s in (c.spec.get("signals") or {}):
            if s not in pb.signals:
                problems.append(f"{c.file}: test {c.name!r}: unknown signal {s!r}")
    return problems


def run_case(pb: Playbooks, case: Case) -> CaseResult:
    from bot.diagnosis import run_diagnosis
    from bot.render import render

    spec, expect = case.spec, case.spec.get("expect") or {}
    res = CaseResult(case)
    try:
        evidence = build_evidence(spec, pb.signals, pb.signal_titles)
        cluster = ClusterConfig(name=evidence.cluster, thresholds=dict(spec.get("thresholds") or {}),
                                milvus_version=spec.get("version"))
        config = AppConfig(clusters=[cluster])
        request = TriageRequest(cluster=evidence.cluster, collection=spec.get("collection"), window=window_of(spec),
                                trigger=spec.get("trigger", "cli"), reported_latency_ms=_ms(spec.get("reported_latency")))
        run = run_diagnosis(request, config, evidence=evidence, playbooks=pb)
    except (FixtureError, ConfigError, ValueError) as e:
        res.problems.append(f"fixture error: {e}")
        return res
    d = run.diagnosis
    res.fired = [f.rule_id for f in d.findings]
    res.not_checked = d.not_checked
    for err in run.evaluation.errors:
        res.problems.append(f"template error: {err}")
    try:
        res.output = render(d, "text")
        render(d, "markdown")
        render(d, "json")
    except Exception as e:  # a renderer bug on this evidence is a test failure, not a crash
        res.problems.append(f"render error: {type(e).__name__}: {e}")
    fired = set(res.fired)
    want = [str(x) for x in expect.get("fired") or []]
    missing = [r for r in want if r not in fired]
    if missing:
        res.problems.append("expected to fire but did not: " + ", ".join(missing))
    bad = [r for r in expect.get("not_fired") or [] if r in fired]
    if bad:
        res.problems.append("fired but must not: " + ", ".join(bad))
    if expect.get("only"):
        extra = sorted(fired - set(want))
        if extra:
            res.problems.append("fired beyond the expected set (only: true): " + ", ".join(extra))
    if expect.get("top") and (not d.findings or d.findings[0].rule_id != expect["top"]):
        got = d.findings[0].rule_id if d.findings else "(no finding)"
        res.problems.append(f"expected top finding {expect['top']}, got {got}")
    for sub in expect.get("not_checked") or []:
        if not any(sub in line for line in d.not_checked):
            res.problems.append(f"no 'could not check' line contains {sub!r}")
    for sub in expect.get("healthy") or []:
        if not any(sub in line for line in d.healthy):
            res.problems.append(f"no 'checked and healthy' line contains {sub!r}")
    text = "\n".join(
        "\n".join([f.title, f.summary, *f.evidence, *f.fix_steps, *f.code, *f.links]) for f in d.findings)
    for sub in expect.get("text") or []:
        if sub not in text:
            res.problems.append(f"findings do not contain {sub!r}")
    for sub in expect.get("no_text") or []:
        if sub in text:
            res.problems.append(f"findings contain {sub!r} but must not")
    return res


def _ms(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    from bot.slowlog.parser import parse_duration

    return parse_duration(str(v)) * 1000.0


def run_tests(pb: Playbooks, paths: list[str] | None = None) -> tuple[list[CaseResult], list[str]]:
    cases, problems = load_cases(find_test_files(pb, paths))
    problems += check_cases(pb, cases)
    return [run_case(pb, c) for c in cases], problems


def format_result(r: CaseResult) -> str:
    if r.passed:
        return f"ok    {r.case.file}: {r.case.name}"
    expect = r.case.spec.get("expect") or {}
    lines = [f"FAIL  {r.case.file}: {r.case.name}"]
    lines += [f"        - {p}" for p in r.problems]
    want = sorted(set(expect.get("fired") or []))
    got = sorted(set(r.fired))
    if want or got:
        lines.append("        fired (- expected but missing, + fired unexpectedly):")
        for rid in sorted(set(want) | set(got)):
            mark = " " if (rid in want) == (rid in got) else ("-" if rid in want else "+")
            if mark == "+" and not expect.get("only") and rid not in (expect.get("not_fired") or []):
                mark = " "  # extra findings are fine unless `only` or `not_fired` says otherwise
            lines.append(f"          {mark} {rid}")
    if r.not_checked:
        lines.append("        could not check:")
        lines += [f"            {line}" for line in r.not_checked[:8]]
    return "\n".join(lines)


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)
