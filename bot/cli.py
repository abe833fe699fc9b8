"""`milvus-triage`: the command line. Every subcommand lives in bot/commands/<name>.py with
`register(subparsers)`; each sets `func(args) -> int` as its handler."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS = ["demo", "slow", "evidence", "digest", "playbooks", "handoff", "clusters", "serve"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with `only`, just that subcommand's (a command module imports what it
    needs, and `digest` on a big log should not wait for the Slack app's imports)."""
    parser = argparse.ArgumentParser(
        prog="milvus-triage",
        description="Triage slow Milvus searches: metrics, slow logs and collection facts -> findings and fixes.",
    )
    parser.add_argument("--config", help="path to clusters.yaml (default: $MILVUS_TRIAGE_CONFIG or ./clusters.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the bot does to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only else COMMANDS:
        importlib.import_module(f"bot.commands.{name}").register(sub)
    return parser


def _command(argv: list[str]) -> str | None:
    """The subcommand named in argv, skipping the global options; None if there is none."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--config":
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return a if a in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(only=_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
