"""Rule templates: a jinja2 SandboxedEnvironment with StrictUndefined, helpers, and load-time checks.

Rule text (titles, evidence lines, fix steps, code) is written by playbook authors but filled with
values from logs and Milvus (collection names, filters). The sandbox keeps a template from reaching
Python internals; StrictUndefined makes a typo fail loudly instead of printing nothing. Output here
is plain text: escaping for Slack, markdown or a terminal happens in the renderers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import SandboxedEnvironment

from bot.format import format_ms, format_ratio_x, format_value

CLIP_DEFAULT = 240


class FactView:
    """Read-only attribute access to a dict of facts, for templates (`collection.name`)."""

    __slots__ = ("_d",)

    def __init__(self, d: dict[str, Any]) -> None:
        self._d = d

    def __getattr__(self, key: str) -> Any:
        try:
            return self._d[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"FactView({self._d!r})"


def clip(text: Any, limit: int = CLIP_DEFAULT) -> str:
    """Shorten long text visibly: '<start>… [9,760 more characters]'."""
    s = "" if text is None else str(text)
    if len(s) <= limit:
        return s
    return f"{s[:limit]}… [{len(s) - limit:,} more characters]"


def py(value: Any) -> str:
    """A Python literal for generated code: strings via repr() so any text stays one valid literal."""
    if isinstance(value, FactView):
        value = value._d
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py(v) for v in value) + "]"
    return repr(str(value))


def secs(value: float | None) -> str:
    return "n/a" if value is None else format_ms(float(value) * 1000.0)


def ms(value: float | None) -> str:
    return "n/a" if value is None else format_ms(float(value))


def num(value: float | None) -> str:
    return format_value(value, "count")


def pct(value: float | None) -> str:
    return format_value(value, "ratio")


def times(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format_ratio_x(float(value))


def plural(n: float | None, word: str, many: str | None = None) -> str:
    n = 0 if n is None else n
    return f"{num(n)} {word if n == 1 else (many or word + 's')}"


HELPERS: dict[str, Any] = {
    "fmt": format_value, "secs": secs, "ms": ms, "num": num, "pct": pct, "x": times,
    "py": py, "clip": clip, "plural": plural,
}
# Filled per render (they depend on the cluster's version).
PER_RENDER = ("feature", "version_at_least")


def make_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True,
                               lstrip_blocks=True, keep_trailing_newline=False)
    env.globals.update(HELPERS)
    env.filters.update({"clip": clip, "py": py, "secs": secs, "ms": ms, "num": num, "pct": pct, "x": times})
    return env


# Parsed and compiled templates by source: rule files are loaded again whenever they change (and by
# every lint/test run), but most of their templates did not.
_COMPILED: dict[tuple[int, str], tuple[Any, Any]] = {}


_ENV: SandboxedEnvironment | None = None


def shared_env() -> SandboxedEnvironment:
    """One sandbox for all rule templates (so compiled templates can be reused across loads)."""
    global _ENV
    if _ENV is None:
        _ENV = make_env()
    return _ENV


def compile_template(env: SandboxedEnvironment, source: str) -> tuple[Any, Any]:
    """(parsed AST, compiled template); raises TemplateSyntaxError with a line number."""
    key = (id(env), source)
    hit = _COMPILED.get(key)
    if hit is None:
        ast = env.parse(source)
        hit = (ast, env.from_string(ast))
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
        _COMPILED[key] = hit
    return hit


def check_template(env: SandboxedEnvironment, ast: Any, *, allowed: Iterable[str],
                   namespaces: dict[str, set[str]], signals: set[str], thresholds: set[str],
                   features: set[str]) -> list[str]:
    """Problems a template would only show at render time: unknown variables, facts, signals,
    thresholds or features. Returns human-readable problems (empty when fine)."""
    problems: list[str] = []
    allowed_names = set(allowed) | set(HELPERS) | set(PER_RENDER)
    from jinja2 import meta

    for name in sorted(meta.find_undeclared_variables(ast)):
        if name not in allowed_names:
            problems.append(f"unknown variable {name!r} (known: {', '.join(sorted(allowed))})")
    for node in ast.find_all(nodes.Getattr):
        if not isinstance(node.node, nodes.Name) or node.node.ctx != "load":
            continue
        base, attr = node.node.name, node.attr
        if base == "signals" and attr not in signals:
            problems.append(f"unknown signal {attr!r} in signals.{attr}")
        elif base == "th" and attr not in thresholds:
            problems.append(f"unknown threshold {attr!r} in th.{attr}")
        elif base in namespaces and base in allowed_names and attr not in namespaces[base]:
            problems.append(f"unknown fact {base}.{attr}")
    for node in ast.find_all(nodes.Call):
        if (isinstance(node.node, nodes.Name) and node.node.name == "feature" and node.args
                and isinstance(node.args[0], nodes.Const) and node.args[0].value not in features):
            problems.append(f"unknown feature {node.args[0].value!r} (known: {', '.join(sorted(features))})")
    return problems
