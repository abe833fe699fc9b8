"""Slack's message limits, including the ones slack_sdk's models do not check.

slack_sdk validates each block (section text <= 3000, header <= 150, ...). Slack also rejects a
message with more than 50 blocks, and (observed, undocumented) one whose blocks total about 13.2k
characters with `msg_blocks_too_long`; we keep a margin at 12,000.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_TOTAL_CHARS = 12_000
MAX_FALLBACK_TEXT = 4000  # `text` is truncated by Slack past 40k; a fallback this long is already useless


class BlockLimitError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def as_dicts(blocks: Iterable[Block | dict[str, Any]]) -> list[dict[str, Any]]:
    return [b.to_dict() if isinstance(b, Block) else b for b in blocks]


def text_chars(obj: Any) -> int:
    """Characters of every `text` string in a block tree (what Slack's total-size check counts, roughly)."""
    if isinstance(obj, dict):
        n = 0
        for k, v in obj.items():
            if k in ("text", "alt_text") and isinstance(v, str):
                n += len(v)
            else:
                n += text_chars(v)
        return n
    if isinstance(obj, list):
        return sum(text_chars(x) for x in obj)
    return 0


def limit_problems(blocks: Iterable[Block | dict[str, Any]]) -> list[str]:
    dicts = as_dicts(blocks)
    problems: list[str] = []
    if len(dicts) > MAX_BLOCKS:
        problems.append(f"{len(dicts)} blocks, more than {MAX_BLOCKS}")
    for i, d in enumerate(dicts):
        where = f"/blocks/{i}"
        model = Block.parse(d)
        if model is None:
            problems.append(f"{where}: unknown block type {d.get('type')!r}")
            continue
        try:
            model.validate_json()
        except SlackObjectFormationError as e:
            problems.append(f"{where}: {e}")
        kind = d.get("type")
        text = d.get("text")
        if kind == "section":
            if isinstance(text, dict) and len(text.get("text", "")) > MAX_SECTION_TEXT:
                problems.append(f"{where}/text: {len(text['text'])} chars, more than {MAX_SECTION_TEXT}")
            if isinstance(text, dict) and not text.get("text", "").strip():
                problems.append(f"{where}/text: empty")
        if kind == "header" and isinstance(text, dict) and len(text.get("text", "")) > MAX_HEADER_TEXT:
            problems.append(f"{where}/text: header of {len(text['text'])} chars, more than {MAX_HEADER_TEXT}")
        if kind == "context" and len(d.get("elements", [])) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"{where}/elements: more than {MAX_CONTEXT_ELEMENTS}")
        if kind == "actions" and len(d.get("elements", [])) > MAX_ACTIONS_ELEMENTS:
            problems.append(f"{where}/elements: more than {MAX_ACTIONS_ELEMENTS}")
    total = text_chars(dicts)
    if total > MAX_TOTAL_CHARS:
        problems.append(f"{total} characters of text in all blocks, more than {MAX_TOTAL_CHARS}")
    return problems


def check_limits(blocks: Iterable[Block | dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks as dicts, or BlockLimitError naming every violated limit with its JSON pointer."""
    dicts = as_dicts(blocks)
    problems = limit_problems(dicts)
    if problems:
        raise BlockLimitError(problems)
    return dicts
