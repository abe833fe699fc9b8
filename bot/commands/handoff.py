"""`milvus-triage handoff`: what happened on each cluster since a time, from the history store."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from bot.commands._common import load_or_exit
from bot.config import ConfigError
from bot.store.engine import StoreURLError
from bot.timewindow import WindowError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "handoff", help="shift handoff: incidents, repeated findings, open fixes, slowest collections",
        description="Summarise the stored history per cluster: incidents that fired, resolved and are still "
                    "open, top causes, findings that keep coming back, fix steps still open, the slowest "
                    "collections. The store is $DATABASE_URL, else store.url from the config.")
    p.add_argument("--since", default=None,
                   help="a duration back from now (12h) or a time of day (08:00); default: handoff.default_since")
    p.add_argument("--until", default=None, help="end of the window (ISO time or HH:MM); default: now")
    p.add_argument("--cluster", default=None, help="only this cluster")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.handoff import HandoffError, build_handoff, parse_since
    from bot.handoff.render import RENDERERS
    from bot.store import open_store
    from bot.timewindow import parse_time

    config = load_or_exit(args.config)
    try:
        until = parse_time(args.until) if args.until else None
        since = parse_since(args.since, now=until, default=config.handoff.default_since,
                            timezone=config.handoff.timezone)
        store = open_store(config.store.url)
    except (WindowError, StoreURLError) as e:
        print(f"milvus-triage handoff: {e}", file=sys.stderr)
        return 2
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        print(f"milvus-triage handoff: cannot open the history store: {reason}", file=sys.stderr)
        return 2
    try:
        handoff = build_handoff(store, config, since, until, cluster=args.cluster)
    except (HandoffError, ConfigError) as e:
        print(f"milvus-triage handoff: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    sys.stdout.write(RENDERERS[args.format](handoff))
    return 0
