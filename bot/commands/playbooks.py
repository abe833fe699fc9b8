"""`milvus-triage playbooks lint|test|list`: validate the playbooks, run their tests, list the rules.

    lint   load and validate rules, thresholds, versions and templates, and the test files' structure
           (and, when a clusters.yaml is found, every cluster's threshold overrides); exit 1 on problems
    test   run playbooks/tests/*.yaml (or the given files); exit 1 on any failure, with a diff
    list   the rules: id, cause, severity, scope, the signals they read
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import ConfigError, config_path, load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("playbooks", help="validate, test and list the playbook rules",
                       description="Work with the rules under playbooks/ (or --dir / $MILVUS_TRIAGE_PLAYBOOKS).")
    p.add_argument("--dir", help="the playbooks directory (default: the project's playbooks/)")
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    lint = psub.add_parser("lint", help="validate every playbook file without running the tests")
    lint.set_defaults(func=run_lint)
    test = psub.add_parser("test", help="run the playbook tests (evidence fixture in, expected findings out)")
    test.add_argument("files", nargs="*", help="test files or directories (default: playbooks/tests/)")
    test.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    test.set_defaults(func=run_test)
    lst = psub.add_parser("list", help="list the rules")
    lst.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _load(args: argparse.Namespace):  # -> Playbooks | None
    from bot.playbook import load_playbooks

    try:
        return load_playbooks(args.dir)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return None


def run_lint(args: argparse.Namespace) -> int:
    from bot.playbook.testing import check_cases, find_test_files, load_cases

    pb = _load(args)
    if pb is None:
        return 1
    cases, problems = load_cases(find_test_files(pb))
    problems += check_cases(pb, cases)
    problems += _check_overrides(args, pb)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    files = len({r.file for r in pb.rules})
    print(f"ok: {len(pb.rules)} rules in {files} files, {len(pb.thresholds)} thresholds, "
          f"{len(pb.regressions)} known regressions, {len(cases)} tests")
    return 0


def _check_overrides(args: argparse.Namespace, pb) -> list[str]:
    """Per-cluster threshold overrides, when a config is at hand (--config, $MILVUS_TRIAGE_CONFIG, ./clusters.yaml)."""
    path = config_path(getattr(args, "config", None))
    if not Path(path).exists():
        return []
    try:
        config = load_config(path)
    except ConfigError as e:
        return [str(e)]
    problems = []
    for c in config.clusters:
        try:
            pb.thresholds_for(c.thresholds, cluster=c.name)
        except ConfigError as e:
            problems.append(f"{path}: {e}")
    return problems


def run_test(args: argparse.Namespace) -> int:
    from bot.playbook.testing import format_result, run_tests

    pb = _load(args)
    if pb is None:
        return 1
    results, problems = run_tests(pb, args.files or None)
    for p in problems:
        print(f"ERROR {p}")
    failed = [r for r in results if not r.passed]
    for r in results:
        if not r.passed or not args.quiet:
            print(format_result(r))
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed"
          + (f", {len(problems)} file problems" if problems else ""))
    return 1 if failed or problems or not results else 0


def run_list(args: argparse.Namespace) -> int:
    pb = _load(args)
    if pb is None:
        return 1
    print(f"{'rule':<26} {'cause':<22} {'severity':<9} {'for each':<11} signals")
    for r in pb.rules:
        print(f"{r.id:<26} {r.cause:<22} {r.severity:<9} {r.for_each or '-':<11} {', '.join(r.signals) or '-'}")
    return 0
