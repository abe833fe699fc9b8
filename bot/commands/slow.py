"""`milvus-triage slow <cluster> [collection] [--window 30m] [--at TIME] [--format text|markdown|json] [--seen 2s]`.

Runs the same pipeline as Slack (bot.diagnosis.diagnose) and prints the reply. Exit codes:
0 the diagnosis ran (whatever it found), 2 bad input (unknown cluster, bad window, bad config).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from bot.commands._common import load_or_exit
from bot.config import ConfigError
from bot.slowlog.parser import MalformedLine, parse_duration
from bot.timewindow import WindowError, make_window

# Milvus collection names: a letter or underscore, then letters, digits, underscores (Milvus's own rule).
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "slow", help="diagnose slow searches on a cluster: findings, proof and fix steps",
        description="Gather metrics, slow-log lines and collection facts for a window, apply the playbooks, "
                    "and print the likely cause with its evidence and concrete fix steps.")
    p.add_argument("cluster", help="a cluster name from clusters.yaml")
    p.add_argument("collection", nargs="?", help="narrow the diagnosis to one collection")
    p.add_argument("--window", default="30m", help="how far back to look, e.g. 15m, 1h, 2h30m (default 30m)")
    p.add_argument("--at", help="end of the window: ISO 8601, HH:MM (UTC) or unix seconds (default now)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output format")
    p.add_argument("--seen", metavar="LATENCY",
                   help="the latency users see, e.g. 1.5s or 800ms; compared with Milvus's own to spot delays outside it")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"milvus-triage slow: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from bot.diagnosis import diagnose
    from bot.models import TriageRequest
    from bot.render import render

    config = load_or_exit(args.config)
    try:
        config.cluster(args.cluster)
    except ConfigError as e:
        return _fail(str(e))
    if args.collection is not None and not _COLLECTION.match(args.collection):
        return _fail(f"{args.collection[:80]!r} is not a valid collection name "
                     "(letters, digits and underscores, starting with a letter or underscore)")
    try:
        window = make_window(args.window, args.at)
    except WindowError as e:
        return _fail(str(e))
    seen_ms = None
    if args.seen:
        try:
            seen_ms = parse_duration(args.seen) * 1000.0
        except MalformedLine:
            return _fail(f"cannot read --seen {args.seen[:40]!r}: use a duration such as 1.5s or 800ms")
        if seen_ms <= 0:
            return _fail("--seen must be a positive duration")
    request = TriageRequest(cluster=args.cluster, collection=args.collection, window=window, trigger="cli",
                            requested_by=_user(), reported_latency_ms=seen_ms)
    try:
        diagnosis = diagnose(request, config)
    except ConfigError as e:  # a bad threshold override, a broken playbook
        return _fail(str(e))
    sys.stdout.write(render(diagnosis, args.format))
    return 0


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
