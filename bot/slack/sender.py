"""Per-channel posting: calls for one channel run in order, one at a time; channels run side by side.

Slack rate-limits chat.postMessage per channel (about 1/s) and answers 429 + Retry-After. The
retry handler sleeps in its thread, so each channel gets its own drain loop on a shared pool:
a throttled channel waits alone and replies to other channels keep flowing.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class ChannelSender:
    def __init__(self, max_workers: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="slack-send")
        self._lock = threading.Lock()
        self._queues: dict[str, deque[tuple[Callable[[], Any], Future[Any]]]] = {}
        self._draining: set[str] = set()

    def submit(self, channel: str, fn: Callable[[], T]) -> Future[T]:
        fut: Future[T] = Future()
        with self._lock:
            self._queues.setdefault(channel, deque()).append((fn, fut))
            if channel in self._draining:
                return fut
            self._draining.add(channel)
        self._pool.submit(self._drain, channel)
        return fut

    def run(self, channel: str, fn: Callable[[], T], timeout: float | None = 300.0) -> T:
        """Submit and wait. Never call from inside a job of the same sender (it would wait on itself)."""
        return self.submit(channel, fn).result(timeout=timeout)

    def _drain(self, channel: str) -> None:
        while True:
            with self._lock:
                queue = self._queues.get(channel)
                if not queue:
                    self._draining.discard(channel)
                    self._queues.pop(channel, None)
                    return
                fn, fut = queue.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed to the waiter, who reports it to the user
                fut.set_exception(e)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
