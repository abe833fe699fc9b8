"""The one way to build a WebClient: token from the environment, Slack's retry handlers, optional fake base URL."""

from __future__ import annotations

import os

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

BOT_TOKEN_ENV = "SLACK_BOT_TOKEN"
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"
APP_TOKEN_ENV = "SLACK_APP_TOKEN"
API_URL_ENV = "SLACK_API_URL"  # tests point this at the local fake Web API
DEFAULT_API_URL = "https://slack.com/api/"


class MissingSecretError(RuntimeError):
    """A required Slack secret is not set in the environment (the message names the variable, never a value)."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingSecretError(f"{name} is not set: export it before starting the bot")
    return value


def api_base_url(base_url: str | None = None) -> str:
    url = base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


def make_web_client(token: str | None = None, base_url: str | None = None,
                    rate_limit_retries: int = 2, timeout_s: int = 30) -> WebClient:
    """A WebClient that honours Retry-After on 429 and retries dropped connections.

    slack_sdk only installs the connection-error handler by default; the rate-limit one must be
    added explicitly. Its sleep happens in the calling thread, which is why every post goes
    through a per-channel sender (bot.slack.sender) so one throttled channel holds only itself.
    """
    return WebClient(
        token=token or require_env(BOT_TOKEN_ENV),
        base_url=api_base_url(base_url),
        timeout=timeout_s,
        retry_handlers=retry_handlers(rate_limit_retries),
    )


def retry_handlers(rate_limit_retries: int = 2) -> list[RetryHandler]:
    return [ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries)]
