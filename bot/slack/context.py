"""BotContext: what every Slack listener and job needs, built once per process (CONTRACT)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from slack_sdk import WebClient

from bot.config import AppConfig
from bot.selfmetrics import SelfMetrics
from bot.slack.client import make_web_client
from bot.slack.dedup import EventDedup
from bot.slack.recent import RecentDiagnoses
from bot.slack.sender import ChannelSender
from bot.store import open_store as open_history_store

log = logging.getLogger(__name__)
T = TypeVar("T")


def _cpu_worker_init(niceness: int) -> None:
    """Lower the worker's priority (acks first), and import the pipeline once, not on the first job."""
    with contextlib.suppress(OSError):  # not permitted on some platforms: only the priority is lost
        os.nice(niceness)
    import bot.charts
    import bot.diagnosis  # noqa: F401


def make_cpu_pool(workers: int = 1, niceness: int = 10) -> ProcessPoolExecutor:
    """Spawned (not forked) workers: the parent runs threads and an event loop, which fork would copy.

    The workers are started and warmed at once, so the first command does not pay for it.
    """
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_cpu_worker_init, initargs=(niceness,))
    for f in [pool.submit(os.getpid) for _ in range(workers)]:
        f.result(timeout=120)
    return pool


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
    # CPU-heavy work (diagnose, chart) in worker processes, so it never holds the GIL the acks need.
    # None = run it in the calling thread (tests, CLI).
    cpu_pool: ProcessPoolExecutor | None = None

    def __post_init__(self) -> None:
        if self.dedup is None:
            self.dedup = EventDedup(store=self.store)

    def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        if self.cpu_pool is None:
            return fn(*args)
        return self.cpu_pool.submit(fn, *args).result()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.sender.shutdown()
        if self.cpu_pool is not None:
            self.cpu_pool.shutdown(wait=False, cancel_futures=True)


def open_store_or_none(config: AppConfig) -> Any | None:
    """The history store (DATABASE_URL wins over clusters.yaml), or None when it cannot be opened."""
    url = os.environ.get("DATABASE_URL") or config.store.url
    try:
        return open_history_store(url)
    except Exception as e:  # a broken store must not stop the bot from answering
        log.error("could not open the store (%s): running without it", type(e).__name__)
        return None


def build_context(config: AppConfig, client: WebClient | None = None, store: Any | None = None,
                  base_url: str | None = None, open_store: bool = True, workers: int = 4,
                  cpu_workers: int = 0) -> BotContext:
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
                      executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="triage"),
                      cpu_pool=make_cpu_pool(cpu_workers) if cpu_workers > 0 else None)
