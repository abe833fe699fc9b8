"""Shift handoffs: what fired, resolved and is still open per cluster, repeated findings, open fix steps,
the slowest collections. Built from the store; rendered for Slack, the terminal, markdown or JSON."""

from bot.handoff.build import HandoffError, build_handoff
from bot.handoff.model import Handoff
from bot.handoff.render import handoff_blocks, handoff_json, handoff_markdown, handoff_text
from bot.handoff.since import parse_since

__all__ = ["Handoff", "HandoffError", "build_handoff", "handoff_blocks", "handoff_json", "handoff_markdown",
           "handoff_text", "parse_since"]
