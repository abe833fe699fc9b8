"""jinja2 environments for the output templates, one per format, that escape every printed value.

`finalize` runs on each `{{ ... }}` result: values are escaped for the target format unless a filter
already produced formatted markup (`Raw`), e.g. a markdown code span sized to survive backticks.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.escape import markdown_code, markdown_escape, terminal_escape

_URL = re.compile(r"^https://[A-Za-z0-9._~:/?#\[\]@!$&'*+,;=%-]+$")


class Raw(str):
    """Text already formatted for the target; finalize passes it through."""


def _md_block(text: Any, lang: str = "") -> Raw:
    """A fenced block whose fence is longer than any backtick run inside (CommonMark)."""
    s = terminal_escape(str(text))
    longest = run = 0
    for ch in s:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return Raw(f"{fence}{lang}\n{s}\n{fence}")


def _md_code(text: Any) -> Raw:
    return Raw(markdown_code(" ".join(terminal_escape(str(text)).split())))


def _md_cell_code(text: Any) -> Raw:
    # GFM splits table cells on `|` even inside code spans unless it is escaped.
    return Raw(markdown_code(" ".join(terminal_escape(str(text)).split()).replace("|", "\\|")))


def _md_link(url: Any) -> Raw:
    s = str(url)
    return Raw(f"<{s}>") if _URL.match(s) else Raw(_md_escape(s))


def _md_escape(text: str) -> str:
    return markdown_escape(terminal_escape(text))


def _indent(text: Any, spaces: int = 4) -> str:
    pad = " " * spaces
    return "\n".join(pad + ln if ln else ln for ln in str(text).splitlines())


def _finalize(escape: Any) -> Any:
    def fin(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, Raw):
            return value
        return escape(str(value))
    return fin


@cache
def environment(fmt: str, templates_dir: str) -> SandboxedEnvironment:
    if fmt == "markdown":
        esc = _md_escape
    elif fmt == "text":
        esc = terminal_escape
    else:
        raise ValueError(f"no template environment for format {fmt!r}")
    env = SandboxedEnvironment(loader=FileSystemLoader(templates_dir), undefined=StrictUndefined, autoescape=False,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                               finalize=_finalize(esc))
    env.filters.update({"md_block": _md_block, "md_code": _md_code, "md_cell_code": _md_cell_code,
                        "md_link": _md_link, "indent_code": _indent})
    return env


def templates_dir(playbooks: Path) -> str:
    return str(playbooks / "templates")
