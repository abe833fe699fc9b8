"""Playbooks: rules as data (playbooks/*.yaml), the fact layer, the condition evaluator, templates.

    pb = load_playbooks()                                  # validated; PlaybookError names file, rule, problem
    ctx = build_facts(evidence, pb, pb.thresholds_for(cluster.thresholds, cluster.name), request)
    evaluation = evaluate_playbooks(pb, ctx)               # findings, healthy lines, could-not-check lines
"""

from bot.playbook.engine import Evaluation, RuleResult, evaluate_playbooks
from bot.playbook.facts import FactContext, build_facts
from bot.playbook.loader import load_playbooks, playbooks_dir
from bot.playbook.model import PlaybookError, PlaybookErrors, Playbooks, Rule

__all__ = [
    "Evaluation", "FactContext", "PlaybookError", "PlaybookErrors", "Playbooks", "Rule", "RuleResult",
    "build_facts", "evaluate_playbooks", "load_playbooks", "playbooks_dir",
]
