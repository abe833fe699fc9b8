"""Safe PromQL rendering: the cluster's label matchers and the window go into signal templates.

Only three things are ever substituted, and only outside string literals of the template:
  {SEL} / {SEL, ...}    the cluster's matchers from config (label names validated, values escaped)
  {CSEL} / {CSEL, ...}  the same plus collection_name="<collection>" (escaped)
  [RANGE], [RANGE:RES]  durations computed by the bot, never text typed by a user
Label values are written as double-quoted PromQL strings with every quote, backslash and
control character escaped, so a value can never end the string and change the query's meaning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from bot.timewindow import format_duration

# What a selector in a template must start with: the cluster's matchers (SEL) or those plus the collection (CSEL).
PLACEHOLDER_SELECTOR = re.compile(r"\{\s*(C?SEL)\s*(,\s*|\})")
_SUBST = re.compile(r"\{\s*(?P<which>C?SEL)\s*(?P<tail>,\s*|\})|(?P<range>\[RANGE:RES\]|\[RANGE\])")
_BRACE = re.compile(r"\{(?!\s*C?SEL\s*[,}])")
_BRACKET = re.compile(r"\[([^\]]*)\]")
_RANGE_OK = re.compile(r"^(RANGE|RANGE:RES|\d+[smhdwy](:\d+[smhdwy])?)$")
_LEFTOVER = re.compile(r"\b(C?SEL|RANGE|RES)\b")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The label Milvus 2.4+ proxy metrics (and 2.3's milvus_proxy_collection_sq_latency) carry the collection in.
COLLECTION_LABEL = "collection_name"

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


class PromQLError(ValueError):
    """A template or matcher that cannot be rendered safely."""


def escape_string(value: str) -> str:
    """A double-quoted PromQL string literal whose content is exactly `value`.

    PromQL decodes double-quoted strings with Go's strconv.Unquote rules: backslash and double
    quote are escaped, control characters become \\xNN, other Unicode stays as UTF-8.
    """
    if not isinstance(value, str):
        raise PromQLError(f"label values must be strings, not {type(value).__name__}")
    out = ['"']
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise PromQLError("label value contains a lone UTF-16 surrogate, which PromQL cannot represent")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def check_label_name(name: str) -> str:
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        raise PromQLError(f"{name!r} is not a valid Prometheus label name")
    if name.startswith("__"):
        raise PromQLError(f"{name!r}: label names starting with '__' are reserved")
    return name


def matchers_text(matchers: Mapping[str, str]) -> str:
    """{"namespace": 'a"b'} -> 'namespace="a\\"b"' (exact-match only; names validated, values escaped)."""
    return ", ".join(f"{check_label_name(k)}={escape_string(v)}" for k, v in matchers.items())


def format_range(seconds: float) -> str:
    """Seconds -> a PromQL duration ('1800' -> '30m'); at least 1s, whole seconds."""
    s = max(1, math.ceil(seconds))
    from datetime import timedelta

    return format_duration(timedelta(seconds=s))


def split_strings(template: str) -> list[tuple[bool, str]]:
    """Split PromQL text into (is_string_literal, text) parts, honouring "...", '...' and `...`."""
    parts: list[tuple[bool, str]] = []
    i, start, n = 0, 0, len(template)
    while i < n:
        ch = template[i]
        if ch in "\"'`":
            if i > start:
                parts.append((False, template[start:i]))
            j = i + 1
            while j < n and template[j] != ch:
                j += 2 if (template[j] == "\\" and ch != "`") else 1
            if j >= n:
                raise PromQLError(f"unterminated string literal starting at {template[i:i + 20]!r}")
            parts.append((True, template[i:j + 1]))
            i = start = j + 1
            continue
        i += 1
    if start < n:
        parts.append((False, template[start:]))
    return parts


def check_template(template: str, allow_collection: bool = False) -> str | None:
    """Why the template is unsafe or malformed, or None when it is fine."""
    try:
        code = "".join(text if not is_str else '""' for is_str, text in split_strings(template))
    except PromQLError as e:
        return str(e)
    if not PLACEHOLDER_SELECTOR.search(code):
        return "no selector uses the cluster's matchers: write metric{SEL} or metric{SEL, a=\"b\"}"
    bad = _BRACE.search(code)
    if bad:
        return (f"selector at {code[bad.start():bad.start() + 30]!r} does not start with SEL or CSEL, "
                "so the cluster's matchers would not apply to it")
    if "CSEL" in code and not allow_collection:
        return "CSEL (collection matcher) is only allowed in a variant with needs_collection: true"
    if allow_collection and "CSEL" not in code:
        return "needs_collection: true but the query never uses CSEL"
    for m in _BRACKET.finditer(code):
        if not _RANGE_OK.match(m.group(1).strip()):
            return f"range [{m.group(1)}] must be [RANGE], [RANGE:RES] or a fixed duration such as [1m]"
    if depth_problem := _paren_problem(code):
        return depth_problem
    return None


def _paren_problem(code: str) -> str | None:
    depth = 0
    for ch in code:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return "unbalanced parentheses: ')' without '('"
    return "unbalanced parentheses: '(' not closed" if depth else None


def render(template: str, matchers: Mapping[str, str], range_s: float, res_s: float | None = None,
           collection: str | None = None) -> str:
    """The template with SEL/CSEL, RANGE and RES filled in. Raises PromQLError on unsafe input."""
    sel = matchers_text(matchers)
    csel = None
    if collection is not None:
        csel = ", ".join(x for x in (sel, f"{COLLECTION_LABEL}={escape_string(collection)}") if x)
    rng = format_range(range_s)
    res = format_range(res_s if res_s is not None else max(15.0, range_s / 720.0))

    def substitute(m: re.Match[str]) -> str:
        if m.group("range"):
            return f"[{rng}:{res}]" if m.group("range") == "[RANGE:RES]" else f"[{rng}]"
        which, tail = m.group("which"), m.group("tail")
        if which == "CSEL":
            if csel is None:
                raise PromQLError("this query needs a collection (CSEL) but none was given")
            text = csel
        else:
            text = sel
        if tail == "}":
            return "{" + text + "}"
        return "{" + (text + ", " if text else "")

    out: list[str] = []
    for is_str, text in split_strings(template):
        if is_str:
            out.append(text)
            continue
        # Check the template's own text, then substitute in one pass, so inserted values are never rescanned.
        left = _LEFTOVER.search(_SUBST.sub("", text))
        if left:
            raise PromQLError(f"placeholder {left.group(1)} is not in a recognised position in {template!r}")
        out.append(_SUBST.sub(substitute, text))
    return "".join(out)
