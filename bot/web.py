"""The HTTP app (Starlette, ASGI): Bolt on /slack/events, /healthz, /metrics, and the alert webhook.

Slash commands and button clicks are dispatched inline on the event loop, like Bolt's own
Starlette adapter: their listeners only parse, check access, ack and hand the work to the
executor (about 0.1 ms), and a thread hop per request cost more than that under a burst.
Events API callbacks go through Starlette's thread pool, because their listener may write the
dedup key to the store (a database round trip must not stall the loop).
"""

from __future__ import annotations

import logging
import time

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.alerts.webhook import make_routes
from bot.slack.context import BotContext

log = logging.getLogger(__name__)
STARTED = time.time()


def create_web_app(ctx: BotContext, bolt_app: App, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_req = to_bolt_request(request, body)
        if request.headers.get("content-type", "").startswith("application/json"):
            bolt_resp = await run_in_threadpool(bolt_app.dispatch, bolt_req)
        else:
            bolt_resp = bolt_app.dispatch(bolt_req)
        if bolt_resp.status == 401:
            ctx.metrics.command("request", "bad_signature")
        return to_starlette_response(bolt_resp)

    async def healthz(request: Request) -> Response:
        last = ctx.metrics.last_event_at
        return JSONResponse({
            "ok": True,
            "clusters": len(ctx.config.clusters),
            "uptime_s": round(time.time() - STARTED, 1),
            "last_event_age_s": round(time.time() - last, 1) if last else None,
            "store": ctx.store is not None,
        })

    async def metrics(request: Request) -> Response:
        return Response(ctx.metrics.exposition(), media_type=ctx.metrics.content_type)

    routes: list[BaseRoute] = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    routes += extra_routes if extra_routes is not None else list(make_routes(ctx))
    return Starlette(routes=routes)
