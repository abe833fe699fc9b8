"""Render a Diagnosis: terminal text and markdown through jinja2 templates (playbooks/templates/), or JSON.

    render(diagnosis, "text" | "markdown" | "json") -> str

Text that came from logs or Milvus is escaped for the target by the template environment
(bot.render.env); long text is clipped visibly (bot.render.view).
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.models import Diagnosis
from bot.render.env import environment, templates_dir
from bot.render.view import diagnosis_view

FORMATS = ("text", "markdown", "json")
_TEMPLATES = {"text": "diagnosis.txt.j2", "markdown": "diagnosis.md.j2"}


def render(diagnosis: Diagnosis, fmt: str = "text", *, playbooks_dir: str | Path | None = None) -> str:
    if fmt == "json":
        return render_json(diagnosis)
    if fmt not in _TEMPLATES:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    from bot.playbook import load_playbooks
    from bot.playbook import playbooks_dir as default_dir

    directory = Path(playbooks_dir) if playbooks_dir else default_dir()
    try:
        causes = {k: str(v.get("title", k)) for k, v in load_playbooks(directory).causes.items()}
    except Exception:  # rendering must not depend on the rules loading; fall back to the raw cause names
        causes = {}
    view = diagnosis_view(diagnosis, causes)
    env = environment(fmt, templates_dir(directory))
    text = env.get_template(_TEMPLATES[fmt]).render(d=view)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip() + "\n"


def render_text(diagnosis: Diagnosis) -> str:
    return render(diagnosis, "text")


def render_markdown(diagnosis: Diagnosis) -> str:
    return render(diagnosis, "markdown")


def render_json(diagnosis: Diagnosis) -> str:
    """The whole Diagnosis as JSON (findings, evidence, signals with series, the digest)."""
    return json.dumps(diagnosis.model_dump(mode="json"), indent=2, ensure_ascii=False, default=str) + "\n"
