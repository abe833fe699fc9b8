"""`milvus-triage serve http|socket`: run the Slack bot.

http:   Bolt behind Starlette + uvicorn on --port ($PORT, default 3000): /slack/events, /healthz, /metrics,
        and POST /alertmanager (the alert webhook). For production.
socket: Socket Mode over an outbound WebSocket (SLACK_APP_TOKEN, xapp-…); no public URL needed. For laptops.
Secrets come only from the environment: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (http), SLACK_APP_TOKEN (socket).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.commands._common import load_or_exit

log = logging.getLogger(__name__)
CPU_WORKERS_ENV = "MILVUS_TRIAGE_CPU_WORKERS"  # processes for diagnoses and charts (default: cores - 1)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the Slack bot (HTTP mode or Socket Mode)")
    modes = p.add_subparsers(dest="mode", metavar="MODE", required=True)
    http = modes.add_parser("http", help="Events API over HTTP: Bolt on ASGI (uvicorn)")
    http.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")),
                      help="port to listen on (default: $PORT or 3000)")
    http.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"),
                      help="address to bind (default 0.0.0.0)")
    modes.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.alerts.scheduler import start as start_scheduler
    from bot.slack.app import build_app
    from bot.slack.client import APP_TOKEN_ENV, MissingSecretError, require_env
    from bot.slack.context import build_context

    config = load_or_exit(args.config)
    logging.getLogger().setLevel(logging.INFO)
    try:
        default_workers = max(1, (os.cpu_count() or 2) - 1)
        ctx = build_context(config, cpu_workers=int(os.environ.get(CPU_WORKERS_ENV, default_workers)))
        if args.mode == "socket":
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            app_token = require_env(APP_TOKEN_ENV)
            app = build_app(ctx, socket_mode=True)
            start_scheduler(ctx)
            SocketModeHandler(app, app_token).start()
            return 0
        import uvicorn

        from bot.web import create_web_app

        app = build_app(ctx)
        start_scheduler(ctx)
        uvicorn.run(create_web_app(ctx, app), host=args.host, port=args.port, log_level="info")
        return 0
    except MissingSecretError as e:
        print(f"milvus-triage serve: {e}", file=sys.stderr)
        return 2
