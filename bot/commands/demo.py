"""`milvus-triage demo`: the whole bot on this machine, with no Slack and no Milvus cluster.

Builds one demo cluster per scenario (demo/scenarios/*.yaml) in a real Prometheus, log files and
Milvus Lite, diagnoses each and prints the result. Exit 2 when Prometheus is not installed."""

from __future__ import annotations

import argparse
import sys

from bot.demo.run import DemoError, run_demo
from bot.demo.scenario import ScenarioError, load_scenarios


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the bot against built-in demo clusters (needs only `prometheus`)",
                       description="Diagnose demo clusters, one per slow-search cause, on this machine.")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="only this scenario (repeatable); default: all. --list shows them")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--keep", action="store_true", help="keep the generated files (config, logs, TSDB, Milvus Lite)")
    p.add_argument("--serve", action="store_true",
                   help="keep Prometheus running and print the config path, to try `milvus-triage slow` by hand")
    p.add_argument("--workdir", help="build the demo here instead of a temporary directory (kept)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.list:
            for sc in load_scenarios():
                print(f"{sc.name:22s} {sc.cluster:28s} Milvus {sc.milvus_version:8s} {sc.title}")
            return 0
        return run_demo(args.scenario, fmt=args.format, keep=args.keep, serve=args.serve, workdir=args.workdir)
    except (DemoError, ScenarioError) as e:
        print(f"milvus-triage demo: {e}", file=sys.stderr)
        return 2
