"""POST /alertmanager: Alertmanager's webhook receiver (payload version 4).

With `alerts.webhook_token_env` set, requests must carry `Authorization: Bearer <that env var's
value>` (Alertmanager: `http_config.authorization.credentials_file`); otherwise 401. A configured
but empty variable rejects everything rather than letting everyone in.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.alerts.alertmanager import WebhookPayload
from bot.alerts.lifecycle import AlertHandler

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024  # Alertmanager truncates groups; a few MB is already abnormal
SUPPORTED_VERSION = "4"


def _expected_token(ctx: Any) -> tuple[bool, str | None]:
    env = ctx.config.alerts.webhook_token_env
    if not env:
        return False, None
    token = os.environ.get(env, "")
    if not token:
        log.error("alerts.webhook_token_env names %s, which is empty or unset: rejecting all webhooks", env)
    return True, token or None


def _authorized(request: Request, expected: str | None) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if expected is None or scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"status": "error", "error": message}, status_code=status, headers=headers or None)


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(x) for x in err["loc"]) or "(payload)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def make_routes(ctx: Any, handler: AlertHandler | None = None) -> list[Route]:
    handler = handler or AlertHandler(ctx)
    required, expected = _expected_token(ctx)

    async def alertmanager(request: Request) -> JSONResponse:
        if required and not _authorized(request, expected):
            return _error(401, "missing or wrong bearer token", **{"WWW-Authenticate": 'Bearer realm="alertmanager"'})
        if ctx.store is None:  # exactly-once needs the store; let Alertmanager retry once it is back
            return _error(503, "the bot has no history store: alert notifications cannot be handled")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"payload larger than {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return _error(400, f"body is not JSON: {e}")
        if not isinstance(data, dict):
            return _error(400, "body must be a JSON object (Alertmanager webhook payload)")
        if str(data.get("version", "")) != SUPPORTED_VERSION:
            return _error(400, f"unsupported webhook payload version {str(data.get('version'))[:20]!r}: "
                               f"expected {SUPPORTED_VERSION!r}")
        try:
            payload = WebhookPayload.model_validate(data)
        except ValidationError as e:
            return _error(422, f"not an Alertmanager webhook payload: {_describe(e)}")
        try:
            outcomes = await run_in_threadpool(handler.on_webhook, payload)
        except Exception as e:  # the store is down: let Alertmanager retry later
            log.exception("alertmanager webhook failed")
            return _error(503, f"could not record the notification ({type(e).__name__}); retry later")
        return JSONResponse({"status": "ok", "alerts": len(payload.alerts), "outcomes": outcomes})

    alertmanager.handler = handler  # type: ignore[attr-defined]  # tests drain its background work
    return [Route("/alertmanager", alertmanager, methods=["POST"])]
