"""Drop Events API retries: Slack re-sends an event (same event_id) when it saw no 2xx within 3 s.

The store (when present, shared by replicas) is asked first through `claim_event(key) -> bool`;
otherwise, or if it fails, a bounded in-process memory decides.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)


class EventDedup:
    def __init__(self, store: Any | None = None, ttl_s: float = 3600.0, max_keys: int = 10_000) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """True the first time `key` is seen (within the TTL), False for a repeat."""
        if self.store is not None:
            try:
                return bool(self.store.claim_event(key))
            except Exception as e:  # fall back to memory: a repeat reply beats a lost one
                log.warning("store dedup failed (%s); using in-process dedup", type(e).__name__)
        now = time.monotonic()
        with self._lock:
            while self._seen:
                _oldest, at = next(iter(self._seen.items()))
                if now - at < self.ttl_s and len(self._seen) < self.max_keys:
                    break
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True
