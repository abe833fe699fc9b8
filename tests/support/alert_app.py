"""One bot replica as a real process, wired like production (for the multi-replica tests):

    python -m tests.support.alert_app CONFIG_PATH PORT

BotContext (bot.slack.context.build_context), the Bolt app (bot.slack.app.build_app, which registers
the alert listener) and the ASGI app (bot.web.create_web_app, which mounts POST /alertmanager), served
by uvicorn on 127.0.0.1:PORT. The Slack Web API is the test's fake (SLACK_API_URL); the store is
DATABASE_URL, shared by the replicas. Prints "READY <port>" once it serves.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

import uvicorn


def main(argv: list[str]) -> int:
    config_path, port = argv[0], int(argv[1])
    logging.basicConfig(level=logging.WARNING, format="%(process)d %(levelname)s %(name)s: %(message)s")
    from bot.config import load_config
    from bot.slack.app import build_app
    from bot.slack.client import SIGNING_SECRET_ENV, require_env
    from bot.slack.context import build_context
    from bot.web import create_web_app

    config = load_config(config_path)
    ctx = build_context(config)
    if ctx.store is None:
        print("NO STORE", flush=True)
        return 3
    app = build_app(ctx, signing_secret=require_env(SIGNING_SECRET_ENV))
    server = uvicorn.Server(uvicorn.Config(create_web_app(ctx, app), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            return 4
        time.sleep(0.02)
    print(f"READY {port}", flush=True)
    sys.stdin.read()  # run until the test closes our stdin
    server.should_exit = True
    thread.join(5)
    ctx.executor.shutdown(wait=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
