"""Load and validate playbooks/: rules/*.yaml, thresholds.yaml, versions.yaml, facts.yaml, causes.yaml.

Every problem names the file, the rule and what is wrong ("rules/x.yaml: rule 'y': when.all[1]:
unknown signal 'queue_p999' (did you mean 'queue_p99'?)"). `load_playbooks` raises them all at once.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from pathlib import Path
from typing import Any

import yaml
from jinja2 import TemplateSyntaxError

from bot.playbook import templating
from bot.playbook.model import (
    COMPARE_OPS,
    GLOBAL_NAMESPACES,
    PRESENCE_OPS,
    SCOPES,
    SEVERITIES,
    SIGNAL_OF,
    TYPE_OPS,
    UNARY_OPS,
    AllOf,
    AnyOf,
    Condition,
    FactDef,
    Leaf,
    NotOf,
    ObservabilityNote,
    PlaybookError,
    PlaybookErrors,
    Playbooks,
    Ref,
    Regression,
    Rule,
    Template,
    Threshold,
)
from bot.playbook.versions import VersionSpecError, check_spec, parse_version

PLAYBOOKS_ENV = "MILVUS_TRIAGE_PLAYBOOKS"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster, same safety
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "playbooks"

_ID = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_RULE_KEYS = {
    "id", "cause", "title", "severity", "when", "summary", "evidence", "fix", "code", "links", "healthy",
    "for_each", "versions", "group", "unless_fired", "only_if_no_findings", "symptom", "weight", "seed",
    "description",
}
_LEAF_KEYS = {"signal", "fact", "of", "op", "value", "threshold", "ref", "times"}
_TEMPLATE_GLOBALS = ("signals", "th", "collections", "shapes", *GLOBAL_NAMESPACES)


def playbooks_dir(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get(PLAYBOOKS_ENV) or DEFAULT_DIR)


_CACHE: dict[str, tuple[tuple[tuple[str, float], ...], Playbooks]] = {}
_CHECKED: dict[tuple[str, tuple[str, ...], int], list[str]] = {}
_LOCK = threading.Lock()


def load_playbooks(directory: str | Path | None = None) -> Playbooks:
    """Load and validate; cached until a file under the directory changes. Raises PlaybookErrors."""
    d = playbooks_dir(directory).resolve()
    stamp = _stamp(d)
    with _LOCK:
        hit = _CACHE.get(str(d))
        if hit and hit[0] == stamp:
            return hit[1]
    pb = _Loader(d).load()
    with _LOCK:
        _CACHE[str(d)] = (stamp, pb)
    return pb


def _stamp(d: Path) -> tuple[tuple[str, float], ...]:
    files = [d / n for n in ("thresholds.yaml", "versions.yaml", "facts.yaml", "causes.yaml", "signals.yaml")]
    files += sorted((d / "rules").glob("*.yaml"))
    return tuple((str(f), f.stat().st_mtime) for f in files if f.exists())


def _closest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Loader:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.errors: list[PlaybookError] = []
        self.env = templating.shared_env()
        self._catalogue_key: int | None = None

    # ------------------------------------------------------------------ helpers
    def err(self, file: Path | str, rule: str | None, problem: str) -> None:
        self.errors.append(PlaybookError(self._rel(file), rule, problem))

    def _rel(self, file: Path | str) -> str:
        p = Path(file)
        try:
            return str(Path("playbooks") / p.relative_to(self.dir))
        except ValueError:
            return str(p)

    def read_yaml(self, path: Path, required: bool = True) -> Any:
        if not path.exists():
            if required:
                self.err(path, None, "file not found")
            return None
        try:
            return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        except yaml.YAMLError as e:
            self.err(path, None, f"not valid YAML: {e}")
            return None

    # ------------------------------------------------------------------ whole load
    def load(self) -> Playbooks:
        causes = self.load_causes()
        facts, scopes = self.load_facts()
        signals, titles = self.load_signals()
        thresholds = self.load_thresholds()
        self.facts, self.scopes, self.signals, self.thresholds = facts, scopes, signals, thresholds
        versions = self.read_yaml(self.dir / "versions.yaml") or {}
        features = self.load_features(versions)
        self.features = features
        scalar_types, unknown_types, alternatives = self.load_scalar_types(versions)
        regressions = self.load_regressions(versions)
        observability = self.load_observability(versions)
        rules = self.load_rules(causes)
        if self.errors:
            raise PlaybookErrors(self.errors)
        return Playbooks(
            directory=self.dir, rules=rules, thresholds=thresholds, causes=causes, facts=facts, scopes=scopes,
            signals=signals, signal_titles=titles, features=features, scalar_index_types=scalar_types,
            scalar_index_unknown_version=unknown_types, alternative_indexes=alternatives, regressions=regressions,
            observability=observability, env=self.env,
        )

    def load_causes(self) -> dict[str, dict[str, Any]]:
        path = self.dir / "causes.yaml"
        data = self.read_yaml(path)
        causes = (data or {}).get("causes") if isinstance(data, dict) else None
        if not isinstance(causes, dict) or not causes:
            self.err(path, None, "expected a mapping 'causes: {name: {title, order}}'")
            return {}
        return {str(k): dict(v or {}) for k, v in causes.items()}

    def load_facts(self) -> tuple[dict[str, FactDef], dict[str, str]]:
        path = self.dir / "facts.yaml"
        data = self.read_yaml(path) or {}
        scopes = dict(data.get("scopes") or {})
        facts: dict[str, FactDef] = {}
        for name, spec in (data.get("facts") or {}).items():
            spec = spec or {}
            ftype = spec.get("type")
            ns = str(name).split(".", 1)[0]
            if ftype not in TYPE_OPS:
                self.err(path, None, f"fact {name!r}: type must be one of {', '.join(TYPE_OPS)}")
                continue
            if ns not in GLOBAL_NAMESPACES and ns not in SCOPES:
                self.err(path, None, f"fact {name!r}: namespace {ns!r} is neither global nor a scope")
                continue
            facts[str(name)] = FactDef(name=str(name), type=ftype, doc=str(spec.get("doc", "")))
        for s in scopes:
            if s not in SCOPES:
                self.err(path, None, f"unknown scope {s!r} (known: {', '.join(SCOPES)})")
        return facts, scopes

    def load_signals(self) -> tuple[dict[str, str], dict[str, str]]:
        """Signal names and units from signals.yaml (the metrics catalogue is the single source)."""
        path = self.dir / "signals.yaml"
        data = self.read_yaml(path) or {}
        raw = data.get("signals") if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            self.err(path, None, "expected a mapping 'signals: {name: {...}}'")
            return {}, {}
        units = {str(k): str((v or {}).get("unit", "count")) for k, v in raw.items()}
        titles = {str(k): str((v or {}).get("title", k)) for k, v in raw.items()}
        return units, titles

    def load_thresholds(self) -> dict[str, Threshold]:
        path = self.dir / "thresholds.yaml"
        data = self.read_yaml(path) or {}
        out: dict[str, Threshold] = {}
        for name, spec in (data.get("thresholds") or {}).items():
            if not isinstance(spec, dict) or not isinstance(spec.get("value"), int | float) \
                    or isinstance(spec.get("value"), bool):
                self.err(path, None, f"threshold {name!r}: needs a numeric 'value'")
                continue
            out[str(name)] = Threshold(name=str(name), value=float(spec["value"]), unit=str(spec.get("unit", "count")),
                                       doc=str(spec.get("doc", "")))
        if not out:
            self.err(path, None, "no thresholds defined (expected 'thresholds: {name: {value, unit, doc}}')")
        return out

    def load_features(self, versions: dict[str, Any]) -> dict[str, str]:
        path = self.dir / "versions.yaml"
        out: dict[str, str] = {}
        for name, first in (versions.get("features") or {}).items():
            if parse_version(str(first)) is None:
                self.err(path, None, f"feature {name!r}: {first!r} is not a version")
                continue
            out[str(name)] = str(first)
        return out

    def load_scalar_types(self, versions: dict[str, Any]) -> tuple[list[tuple[str, dict[str, str]]], dict[str, str],
                                                                     list[dict[str, Any]]]:
        path = self.dir / "versions.yaml"
        out: list[tuple[str, dict[str, str]]] = []
        for i, entry in enumerate(versions.get("scalar_index_types") or []):
            spec = str((entry or {}).get("versions", ""))
            try:
                check_spec(spec)
            except VersionSpecError as e:
                self.err(path, None, f"scalar_index_types[{i}]: {e}")
                continue
            out.append((spec, {str(k).upper(): str(v) for k, v in (entry.get("types") or {}).items()}))
        unknown = {str(k).upper(): str(v) for k, v in (versions.get("scalar_index_unknown_version") or {}).items()}
        alternatives: list[dict[str, Any]] = []
        for i, alt in enumerate(versions.get("alternative_indexes") or []):
            alt = alt or {}
            missing = [k for k in ("index", "feature", "types", "operators", "note") if not alt.get(k)]
            if missing:
                self.err(path, None, f"alternative_indexes[{i}]: missing {', '.join(missing)}")
            elif alt["feature"] not in self.features:
                self.err(path, None, f"alternative_indexes[{i}]: unknown feature {alt['feature']!r}")
            else:
                alternatives.append({"index": str(alt["index"]), "feature": str(alt["feature"]),
                                     "types": {str(t).upper() for t in alt["types"]},
                                     "operators": {str(o) for o in alt["operators"]}, "note": str(alt["note"])})
        return out, unknown, alternatives

    def load_regressions(self, versions: dict[str, Any]) -> list[Regression]:
        path = self.dir / "versions.yaml"
        out: list[Regression] = []
        seen: set[str] = set()
        for i, entry in enumerate(versions.get("regressions") or []):
            entry = entry or {}
            rid = str(entry.get("id", f"#{i}"))
            where = f"regressions[{i}] ({rid})"
            if rid in seen:
                self.err(path, None, f"{where}: duplicate regression id")
            seen.add(rid)
            missing = [k for k in ("id", "versions", "title", "note", "fix") if not entry.get(k)]
            if missing:
                self.err(path, None, f"{where}: missing {', '.join(missing)}")
                continue
            try:
                check_spec(str(entry["versions"]))
            except VersionSpecError as e:
                self.err(path, None, f"{where}: {e}")
                continue
            when = None
            if entry.get("when") is not None:
                when = self.parse_condition(entry["when"], path, None, f"{where}.when", "regression")
            out.append(Regression(id=rid, versions=str(entry["versions"]), title=str(entry["title"]),
                                  note=str(entry["note"]).strip(), fix=str(entry["fix"]).strip(),
                                  links=[str(u) for u in entry.get("links") or []], when=when))
        return out

    def load_observability(self, versions: dict[str, Any]) -> list[ObservabilityNote]:
        path = self.dir / "versions.yaml"
        out: list[ObservabilityNote] = []
        for i, entry in enumerate(versions.get("observability") or []):
            entry = entry or {}
            try:
                check_spec(str(entry.get("versions", "")))
            except VersionSpecError as e:
                self.err(path, None, f"observability[{i}]: {e}")
                continue
            t = self.template(str(entry.get("note", "")), path, None, f"observability[{i}].note", None)
            if t is not None:
                out.append(ObservabilityNote(versions=str(entry["versions"]), note=t))
        return out

    # ------------------------------------------------------------------ rules
    def load_rules(self, causes: dict[str, dict[str, Any]]) -> list[Rule]:
        rules: list[Rule] = []
        where_id: dict[str, str] = {}
        files = sorted((self.dir / "rules").glob("*.yaml"))
        if not files:
            self.err(self.dir / "rules", None, "no rule files (expected rules/*.yaml)")
        for path in files:
            data = self.read_yaml(path)
            if data is None:
                continue
            if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
                self.err(path, None, "expected a mapping with a 'rules' list")
                continue
            unknown_top = set(data) - {"cause", "rules", "description"}
            if unknown_top:
                self.err(path, None, f"unknown top-level key(s): {', '.join(sorted(unknown_top))}")
            default_cause = data.get("cause")
            for i, raw in enumerate(data["rules"]):
                rule = self.parse_rule(raw, path, i, default_cause, causes)
                if rule is None:
                    continue
                if rule.id in where_id:
                    self.err(path, rule.id, f"duplicate rule id (also in {where_id[rule.id]})")
                    continue
                where_id[rule.id] = self._rel(path)
                rule.order = len(rules)
                rules.append(rule)
        ids = {r.id for r in rules}
        for r in rules:
            for other in r.unless_fired:
                if other not in ids:
                    self.err(r.file, r.id, f"unless_fired: unknown rule id {other!r}{_closest(other, ids)}")
                elif other == r.id:
                    self.err(r.file, r.id, "unless_fired: a rule cannot wait for itself")
        self.check_cycles(rules)
        return rules

    def check_cycles(self, rules: list[Rule]) -> None:
        deps = {r.id: set(r.unless_fired) for r in rules}
        state: dict[str, int] = {}

        def visit(n: str, path: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                rule = next(r for r in rules if r.id == n)
                self.err(rule.file, n, f"unless_fired cycle: {' -> '.join([*path, n])}")
                return
            state[n] = 1
            for d in deps.get(n, ()):
                visit(d, [*path, n])
            state[n] = 2

        for r in rules:
            visit(r.id, [])

    def parse_rule(self, raw: Any, path: Path, index: int, default_cause: Any,
                   causes: dict[str, dict[str, Any]]) -> Rule | None:
        if not isinstance(raw, dict):
            self.err(path, f"#{index + 1}", "a rule must be a mapping")
            return None
        rid = raw.get("id")
        if not isinstance(rid, str) or not _ID.match(rid):
            self.err(path, str(rid) if rid else f"#{index + 1}",
                     "id must be lower_snake_case letters/digits (2-63 characters)")
            return None
        n_err = len(self.errors)
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            for k in sorted(unknown):
                self.err(path, rid, f"unknown key {k!r}{_closest(k, _RULE_KEYS)}")
        cause = raw.get("cause", default_cause)
        if cause not in causes:
            self.err(path, rid, f"unknown cause {cause!r}{_closest(str(cause), causes)} (known: {', '.join(causes)})")
        severity = raw.get("severity")
        if severity not in SEVERITIES:
            self.err(path, rid, f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        for_each = raw.get("for_each")
        if for_each is not None and for_each not in SCOPES:
            self.err(path, rid, f"for_each: unknown scope {for_each!r}{_closest(str(for_each), SCOPES)} "
                                f"(known: {', '.join(SCOPES)})")
            for_each = None
        versions = raw.get("versions")
        if versions is not None:
            try:
                check_spec(str(versions))
            except VersionSpecError as e:
                self.err(path, rid, f"versions: {e}")
        if "when" not in raw:
            self.err(path, rid, "missing 'when' (the conditions)")
            when: Condition | None = None
        else:
            when = self.parse_condition(raw["when"], path, rid, "when", for_each)
        for key in ("title", "summary"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                self.err(path, rid, f"missing '{key}' (a template string)")
        scope_names = [for_each] if for_each else []
        title = self.template(raw.get("title", ""), path, rid, "title", scope_names)
        summary = self.template(raw.get("summary", ""), path, rid, "summary", scope_names)
        lists: dict[str, list[Template]] = {}
        for key in ("evidence", "fix", "code", "links"):
            items = raw.get(key) or []
            if not isinstance(items, list):
                self.err(path, rid, f"{key} must be a list of template strings")
                items = []
            out = []
            for j, src in enumerate(items):
                t = self.template(src, path, rid, f"{key}[{j}]", scope_names)
                if t is not None:
                    out.append(t)
            lists[key] = out
        if not lists["fix"] and cause != "healthy":
            self.err(path, rid, "missing 'fix' steps")
        for j, t in enumerate(lists["links"]):
            if "{{" not in t.source and not t.source.strip().startswith("https://"):
                self.err(path, rid, f"links[{j}]: a link must be an https:// URL")
        healthy = None
        if raw.get("healthy") is not None:
            healthy = self.template(raw["healthy"], path, rid, "healthy", [])
        unless = raw.get("unless_fired") or []
        if not isinstance(unless, list) or not all(isinstance(x, str) for x in unless):
            self.err(path, rid, "unless_fired must be a list of rule ids")
            unless = []
        weight = raw.get("weight", 1.0)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            self.err(path, rid, "weight must be a positive number")
            weight = 1.0
        if len(self.errors) > n_err or when is None or title is None or summary is None:
            return None
        return Rule(
            id=rid, cause=str(cause), title=title, severity=str(severity), when=when, file=self._rel(path),
            summary=summary, evidence=lists["evidence"], fix=lists["fix"], code=lists["code"], links=lists["links"],
            healthy=healthy, for_each=for_each, versions=str(versions) if versions is not None else None,
            group=str(raw["group"]) if raw.get("group") else None, unless_fired=tuple(unless),
            only_if_no_findings=bool(raw.get("only_if_no_findings", False)), symptom=bool(raw.get("symptom", False)),
            weight=float(weight), seed=str(raw.get("seed", "")).strip(),
            description=str(raw.get("description", "")).strip(),
        )

    def template(self, source: Any, path: Path, rid: str | None, where: str, scopes: list[str] | None) -> Template | None:
        if not isinstance(source, str):
            self.err(path, rid, f"{where}: must be a template string, not {type(source).__name__}")
            return None
        try:
            ast, compiled = templating.compile_template(self.env, source)
        except TemplateSyntaxError as e:
            self.err(path, rid, f"{where}: template syntax error at line {e.lineno}: {e.message}")
            return None
        allowed = list(_TEMPLATE_GLOBALS) + list(scopes or [])
        key = (source, tuple(allowed), self.catalogue_key())
        problems = _CHECKED.get(key)
        if problems is None:
            namespaces: dict[str, set[str]] = {}
            for name in self.facts:
                ns, attr = name.split(".", 1)
                namespaces.setdefault(ns, set()).add(attr)
            problems = templating.check_template(
                self.env, ast, allowed=allowed, namespaces=namespaces, signals=set(self.signals),
                thresholds=set(self.thresholds), features=set(getattr(self, "features", {}) or {}),
            )
            if len(_CHECKED) > 4096:
                _CHECKED.clear()
            _CHECKED[key] = problems
        for p in problems:
            self.err(path, rid, f"{where}: {p}")
        return Template(source=source, where=where, compiled=compiled) if not problems else None

    def catalogue_key(self) -> int:
        """What a template check depends on besides the template: the names it may use."""
        if self._catalogue_key is None:
            self._catalogue_key = hash((frozenset(self.facts), frozenset(self.signals), frozenset(self.thresholds),
                                        frozenset(getattr(self, "features", {}) or {})))
        return self._catalogue_key

    # ------------------------------------------------------------------ conditions
    def parse_condition(self, raw: Any, path: Path, rid: str | None, where: str, scope: str | None) -> Condition | None:
        if not isinstance(raw, dict) or not raw:
            self.err(path, rid, f"{where}: a condition must be a mapping (all/any/not, or a signal/fact test)")
            return None
        for key, cls in (("all", AllOf), ("any", AnyOf)):
            if key in raw:
                if len(raw) != 1:
                    self.err(path, rid, f"{where}: '{key}' cannot be combined with other keys "
                                        f"({', '.join(k for k in raw if k != key)})")
                    return None
                items = raw[key]
                if not isinstance(items, list) or not items:
                    self.err(path, rid, f"{where}.{key}: must be a non-empty list of conditions")
                    return None
                parsed = [self.parse_condition(c, path, rid, f"{where}.{key}[{i}]", scope) for i, c in enumerate(items)]
                if any(p is None for p in parsed):
                    return None
                return cls(tuple(p for p in parsed if p is not None))
        if "not" in raw:
            if len(raw) != 1:
                self.err(path, rid, f"{where}: 'not' cannot be combined with other keys")
                return None
            inner = self.parse_condition(raw["not"], path, rid, f"{where}.not", scope)
            return NotOf(inner) if inner is not None else None
        return self.parse_leaf(raw, path, rid, where, scope)

    def resolve_ref(self, raw: dict[str, Any], path: Path, rid: str | None, where: str,
                    scope: str | None) -> tuple[Ref, str] | None:
        """{signal: x, of: ...} or {fact: y} -> (Ref, type)."""
        has_sig, has_fact = "signal" in raw, "fact" in raw
        if has_sig == has_fact:
            self.err(path, rid, f"{where}: name exactly one of 'signal' or 'fact'")
            return None
        if has_sig:
            name = str(raw["signal"])
            if name not in self.signals:
                self.err(path, rid, f"{where}: unknown signal {name!r}{_closest(name, self.signals)}")
                return None
            of = str(raw.get("of", "value"))
            if of not in SIGNAL_OF:
                self.err(path, rid, f"{where}: 'of' must be one of {', '.join(SIGNAL_OF)}, not {of!r}")
                return None
            return Ref("signal", name, of), "number"
        if "of" in raw:
            self.err(path, rid, f"{where}: 'of' applies to signals only")
            return None
        name = str(raw["fact"])
        fact = self.facts.get(name)
        if fact is None:
            self.err(path, rid, f"{where}: unknown fact {name!r}{_closest(name, self.facts)}")
            return None
        if fact.namespace in SCOPES and fact.namespace != scope:
            self.err(path, rid, f"{where}: fact {name!r} needs 'for_each: {fact.namespace}'")
            return None
        return Ref("fact", name), fact.type

    def parse_leaf(self, raw: dict[str, Any], path: Path, rid: str | None, where: str, scope: str | None) -> Leaf | None:
        unknown = set(raw) - _LEAF_KEYS
        if unknown:
            k = sorted(unknown)[0]
            self.err(path, rid, f"{where}: unknown key {k!r}{_closest(k, _LEAF_KEYS)}")
            return None
        resolved = self.resolve_ref({k: raw[k] for k in ("signal", "fact", "of") if k in raw}, path, rid, where, scope)
        if resolved is None:
            return None
        lhs, ltype = resolved
        op = raw.get("op")
        allowed = TYPE_OPS[ltype] + PRESENCE_OPS
        if op not in allowed:
            self.err(path, rid, f"{where}: bad operator {op!r} for {lhs.label} ({ltype}); use one of {', '.join(allowed)}")
            return None
        rhs_keys = [k for k in ("value", "threshold", "ref") if k in raw]
        if op in UNARY_OPS:
            if rhs_keys or "times" in raw:
                self.err(path, rid, f"{where}: operator {op!r} takes no value/threshold/ref")
                return None
            return Leaf(lhs=lhs, op=op, type=ltype)
        if len(rhs_keys) != 1:
            self.err(path, rid, f"{where}: operator {op!r} needs exactly one of value, threshold or ref")
            return None
        key = rhs_keys[0]
        if "times" in raw and key != "ref":
            self.err(path, rid, f"{where}: 'times' only multiplies a ref")
            return None
        if key == "threshold":
            name = str(raw["threshold"])
            if ltype != "number" or op not in COMPARE_OPS:
                self.err(path, rid, f"{where}: thresholds compare numbers only")
                return None
            if name not in self.thresholds:
                self.err(path, rid, f"{where}: unknown threshold {name!r}{_closest(name, self.thresholds)}")
                return None
            return Leaf(lhs=lhs, op=op, threshold=name, type=ltype)
        if key == "ref":
            ref_raw = raw["ref"]
            if not isinstance(ref_raw, dict):
                self.err(path, rid, f"{where}: ref must be a mapping like {{signal: name}} or {{fact: name}}")
                return None
            res = self.resolve_ref(ref_raw, path, rid, f"{where}.ref", scope)
            if res is None:
                return None
            ref, rtype = res
            if rtype != ltype:
                self.err(path, rid, f"{where}: cannot compare {ltype} {lhs.label} with {rtype} {ref.label}")
                return None
            times = raw.get("times")
            if times is not None:
                if isinstance(times, str):
                    if times not in self.thresholds:
                        self.err(path, rid, f"{where}: times: unknown threshold {times!r}{_closest(times, self.thresholds)}")
                        return None
                elif not isinstance(times, int | float) or isinstance(times, bool):
                    self.err(path, rid, f"{where}: times must be a number or a threshold name")
                    return None
                if ltype != "number":
                    self.err(path, rid, f"{where}: 'times' needs numbers")
                    return None
            return Leaf(lhs=lhs, op=op, ref=ref, times=times, type=ltype)
        value = raw["value"]
        problem = _value_problem(ltype, op, value)
        if problem:
            self.err(path, rid, f"{where}: {problem}")
            return None
        return Leaf(lhs=lhs, op=op, value=value, type=ltype)


def _value_problem(ltype: str, op: str, value: Any) -> str | None:
    def is_num(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if ltype == "number" and not is_num(value):
        return f"value for a number must be a number, not {value!r}"
    if ltype == "version" and parse_version(str(value)) is None:
        return f"value {value!r} is not a version like 2.5.7"
    if ltype == "bool" and not isinstance(value, bool):
        return f"value for a bool must be true or false, not {value!r}"
    if ltype == "string":
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return f"operator {op!r} needs a list of strings"
        elif not isinstance(value, str):
            return f"value for a string must be a string, not {value!r}"
    if ltype == "list" and not isinstance(value, str | int | float):
        return f"operator {op!r} needs one item to look for"
    return None
