"""BotContext: what every Slack listener and job needs, built once per process (CONTRACT)."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from bot.config import AppConfig
from bot.selfmetrics import SelfMetrics
from bot.slack.client import make_web_client
from bot.slack.dedup import EventDedup
from bot.slack.recent import RecentDiagnoses
from bot.slack.sender import ChannelSender

log = logging.getLogger(__name__)


@dataclass
class BotContext:
    config: AppConfig
    client: WebClient
    store: Any | None = None
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="triage"))
    metrics: SelfMetrics = field(default_factory=SelfMetrics)
    bot_user_id: str | None = None
    # Additions beyond the contract: the per-channel poster and the Events API retry filter.
    sender: ChannelSender = field(default_factory=ChannelSender)
    dedup: EventDedup | None = None
    recent: RecentDiagnoses = field(default_factory=RecentDiagnoses)
    bot_name: str = "milvus-triage"

    def __post_init__(self) -> None:
        if self.dedup is None:
            self.dedup = EventDedup(store=self.store)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.sender.shutdown()


def open_store_or_none(config: AppConfig) -> Any | None:
    """The alerts engineer's store (SQLAlchemy), when that module is installed; else None."""
    try:
        from bot.store import open_store  # type: ignore[attr-defined]
    except ImportError as e:
        log.warning("bot.store is not available (%s): running without history or shared dedup", e)
        return None
    url = os.environ.get("DATABASE_URL") or config.store.url
    try:
        return open_store(url)
    except Exception as e:  # a broken store must not stop the bot from answering
        log.error("could not open the store (%s): running without it", type(e).__name__)
        return None


def build_context(config: AppConfig, client: WebClient | None = None, store: Any | None = None,
                  base_url: str | None = None, open_store: bool = True, workers: int = 4) -> BotContext:
    client = client or make_web_client(base_url=base_url)
    if store is None and open_store:
        store = open_store_or_none(config)
    bot_user_id = None
    try:
        auth = client.auth_test()
        bot_user_id = auth.get("user_id")
    except Exception as e:  # mention parsing degrades gracefully without it
        log.warning("auth.test failed (%s): bot user id unknown", type(e).__name__)
    return BotContext(config=config, client=client, store=store, bot_user_id=bot_user_id,
                      executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="triage"))
