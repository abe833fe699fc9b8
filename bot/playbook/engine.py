"""Evaluate the loaded rules over one FactContext: findings, "checked and healthy", "could not check".

Order of evaluation: plain rules first, then rules with `unless_fired` (after the rules they wait
for), then `only_if_no_findings` rules (healthy). Rules sharing a `group` are alternative ways to
detect one problem (e.g. per Milvus version): at most one of them fires, and when one fires the
others' "could not check" lines are dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.models import SEVERITY_ORDER, Finding
from bot.playbook.conditions import AllOf, Outcome, evaluate, strength
from bot.playbook.facts import FactContext, ScopeItem
from bot.playbook.model import Playbooks, Rule, Template
from bot.playbook.versions import in_range

log = logging.getLogger(__name__)

Status = Literal["fired", "clear", "unknown", "skipped", "suppressed"]

# How a for_each scope with nothing to offer is named in "could not check" lines.
SCOPE_LABELS = {
    "collection": "Milvus collection facts", "shape": "slow-log shapes", "field": "scalar indexes of filtered fields",
    "json": "slow-log JSON filters", "regression": "known regressions (Milvus version)",
}


@dataclass
class RuleResult:
    rule: Rule
    status: Status
    findings: list[Finding] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""  # why skipped / suppressed
    empty: bool = False  # a for_each rule with no item to look at: clear, but nothing was checked


@dataclass
class Evaluation:
    results: list[RuleResult]
    findings: list[Finding]  # ranked: severity, then strength, then rule order
    healthy: list[str]
    not_checked: list[str]
    errors: list[str]

    @property
    def fired(self) -> list[str]:
        return [r.rule.id for r in self.results if r.status == "fired"]

    def result(self, rule_id: str) -> RuleResult | None:
        return next((r for r in self.results if r.rule.id == rule_id), None)


def evaluate_playbooks(pb: Playbooks, ctx: FactContext) -> Evaluation:
    results: dict[str, RuleResult] = {}
    errors: list[str] = []
    group_fired: dict[str, str] = {}
    for rule in _ordered(pb.rules):
        res = _evaluate_rule(pb, rule, ctx, results, group_fired, errors)
        results[rule.id] = res
        if res.status == "fired" and rule.group:
            group_fired.setdefault(rule.group, rule.id)
    ordered = [results[r.id] for r in pb.rules]
    findings = [f for r in ordered for f in r.findings]
    # Within a severity, a finding that names a cause ranks before a symptom (latency vs its baseline).
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], _symptom(pb, f.rule_id), -f.strength,
                                 _order(pb, f.rule_id)))
    healthy, not_checked = _summaries(pb, ctx, ordered, errors)
    return Evaluation(results=ordered, findings=findings, healthy=healthy, not_checked=not_checked, errors=errors)


def _symptom(pb: Playbooks, rule_id: str) -> bool:
    r = pb.rule(rule_id)
    return bool(r and r.symptom)


def _order(pb: Playbooks, rule_id: str) -> int:
    r = pb.rule(rule_id)
    return r.order if r else 0


def _ordered(rules: list[Rule]) -> list[Rule]:
    """Rules in evaluation order: dependencies (unless_fired) before dependents; healthy-style last."""
    done: set[str] = set()
    out: list[Rule] = []
    for last in (False, True):
        pending = [r for r in rules if r.only_if_no_findings == last]
        while pending:
            progressed = False
            for r in list(pending):
                if all(d in done for d in r.unless_fired):
                    out.append(r)
                    done.add(r.id)
                    pending.remove(r)
                    progressed = True
            if not progressed:  # a dependency on a later phase: let it run with what is known
                out.extend(pending)
                done.update(r.id for r in pending)
                pending = []
    return out


def _evaluate_rule(pb: Playbooks, rule: Rule, ctx: FactContext, done: dict[str, RuleResult],
                   group_fired: dict[str, str], errors: list[str]) -> RuleResult:
    if rule.versions and ctx.version is not None and not in_range(ctx.version, rule.versions):
        return RuleResult(rule, "skipped", reason=f"not for Milvus {'.'.join(map(str, ctx.version))}")
    fired_dep = next((d for d in rule.unless_fired if d in done and done[d].status == "fired"), None)
    if fired_dep:
        return RuleResult(rule, "suppressed", reason=f"{fired_dep} explains it")
    if rule.group and rule.group in group_fired:
        return RuleResult(rule, "suppressed", reason=f"{group_fired[rule.group]} fired in group {rule.group}")
    if rule.only_if_no_findings and any(
            f.severity in ("critical", "warning") for r in done.values() for f in r.findings):
        return RuleResult(rule, "suppressed", reason="other findings fired")

    if rule.for_each:
        items: list[ScopeItem | None] = list(ctx.scopes.get(rule.for_each, []))
        if not items and rule.for_each in ctx.scope_unavailable:
            label = SCOPE_LABELS.get(rule.for_each, rule.for_each)
            return RuleResult(rule, "unknown", missing=[(label, ctx.scope_unavailable[rule.for_each])])
    else:
        items = [None]

    res = RuleResult(rule, "clear", empty=not items)
    unknown = False
    for item in items:
        cond = rule.when if item is None or item.when is None else AllOf((rule.when, item.when))
        out = evaluate(cond, ctx.resolver(item))
        if out.value is None:
            unknown = True
            for m in out.missing:
                if m not in res.missing:
                    res.missing.append(m)
        elif out.value:
            finding = _render_finding(rule, ctx, item, out, errors)
            if finding is not None:
                res.findings.append(finding)
    if res.findings:
        res.status = "fired"
    elif unknown:
        res.status = "unknown"
    return res


def render(t: Template, context: dict[str, Any]) -> str:
    return t.compiled.render(context).strip()


def _render_finding(rule: Rule, ctx: FactContext, item: ScopeItem | None, out: Outcome,
                    errors: list[str]) -> Finding | None:
    context = ctx.template_context(rule.for_each, item)
    try:
        title = " ".join(render(rule.title, context).split())
        summary = " ".join(render(rule.summary, context).split())
        lists = {}
        for key in ("evidence", "fix", "code", "links"):
            lists[key] = [s for s in (render(t, context) for t in getattr(rule, key)) if s]
    except Exception as e:  # a template bug must not cost the whole reply
        log.exception("rule %s: template failed", rule.id)
        errors.append(f"rule {rule.id} ({rule.file}) could not be rendered: {type(e).__name__}: {e}")
        return None
    signals = [s for s in rule.signals if ctx.signal(s)[0] is not None]
    return Finding(
        rule_id=rule.id, cause=rule.cause, title=title, severity=rule.severity,  # type: ignore[arg-type]
        summary=summary, evidence=lists["evidence"], fix_steps=lists["fix"], code=lists["code"],
        links=lists["links"], strength=strength(out.margins, rule.weight),
        collection=item.collection if item is not None else None, signals=signals,
    )


def _names(whats: list[str], keep: int = 5) -> str:
    if len(whats) <= keep + 1:
        return ", ".join(whats)
    return f"{', '.join(whats[:keep])} and {len(whats) - keep} more"


def _missing_lines(pb: Playbooks, ctx: FactContext,
                   missing_by_cause: dict[str, list[tuple[str, str]]]) -> list[str]:
    """The "could not check" lines: each reason said once.

    A whole source that could not be gathered (Prometheus down) gets one "could not gather" line that
    also lists every cause it kept from being checked, rather than its reason once per cause or rule.
    Inputs missing for their own reasons (a metric this version does not export, a collection setting
    not reported) get one "could not check <cause>" line per cause, grouped by reason.
    """
    sources = list(ctx.evidence.missing)
    order = {c: int(v.get("order", 99)) for c, v in pb.causes.items()}
    by_source: list[dict[str, list[str]]] = [{} for _ in sources]  # cause -> inputs, per missing source
    own: dict[str, dict[str, list[str]]] = {}  # cause -> reason -> inputs
    for cause in sorted(missing_by_cause, key=lambda c: order.get(c, 99)):
        for what, why in missing_by_cause[cause]:
            i = next((i for i, m in enumerate(sources) if m.reason and m.reason in why), None)
            if i is not None:
                whats = by_source[i].setdefault(cause, [])
            else:
                whats = own.setdefault(cause, {}).setdefault(why, [])
            if what not in whats:
                whats.append(what)
    lines = []
    for m, blocked in zip(sources, by_source, strict=True):
        line = f"could not gather {m.what} ({m.source}): {m.reason}"
        if blocked:
            line += "; so could not check " + ", ".join(f"{c} ({_names(w, keep=3)})" for c, w in blocked.items())
        lines.append(line)
    lines += ctx.notes
    for cause, reasons in own.items():
        parts = "; ".join(f"{_names(whats)} unavailable ({why})" for why, whats in reasons.items())
        lines.append(f"could not check {cause}: {parts}")
    return lines


def _summaries(pb: Playbooks, ctx: FactContext, results: list[RuleResult],
               errors: list[str]) -> tuple[list[str], list[str]]:
    groups: dict[str, list[RuleResult]] = {}
    for r in results:
        if r.rule.group:
            groups.setdefault(r.rule.group, []).append(r)
    fired_groups = {g for g, rs in groups.items() if any(r.status == "fired" for r in rs)}

    healthy: list[str] = []
    missing_by_cause: dict[str, list[tuple[str, str]]] = {}
    global_ctx = ctx.template_context()
    healthy_groups_done: set[str] = set()
    for r in results:
        g = r.rule.group
        if r.status == "clear" and r.rule.healthy is not None and not r.empty:
            if g and (g in fired_groups or g in healthy_groups_done):
                continue
            try:
                line = " ".join(render(r.rule.healthy, global_ctx).split())
            except Exception as e:
                log.exception("rule %s: healthy template failed", r.rule.id)
                errors.append(f"rule {r.rule.id} ({r.rule.file}) healthy line could not be rendered: {e}")
                continue
            if line and line not in healthy:
                healthy.append(line)
            if g:
                healthy_groups_done.add(g)
        # A group's unknowns stay reported unless a member fired: a weaker alternative (e.g. a slow log
        # that only records 5 s searches) deciding "clear" does not make the unread metrics checked.
        if r.missing and not (g and g in fired_groups):
            bucket = missing_by_cause.setdefault(r.rule.cause, [])
            bucket.extend(m for m in r.missing if m not in bucket)
    not_checked = _missing_lines(pb, ctx, missing_by_cause)
    if ctx.version is not None:
        for note in pb.observability:
            if in_range(ctx.version, note.versions):
                try:
                    text = " ".join(render(note.note, global_ctx).split())
                except Exception as e:
                    errors.append(f"versions.yaml observability note could not be rendered: {e}")
                    continue
                if text and text not in not_checked:
                    not_checked.append(text)
    return healthy, list(dict.fromkeys(not_checked))
