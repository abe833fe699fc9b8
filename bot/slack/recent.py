"""Recent diagnoses kept in memory, so "Show evidence" shows exactly what the reply was based on.

Bounded; on a miss (restart, another replica) the caller re-runs the same window instead.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

from bot.models import Diagnosis


class RecentDiagnoses:
    def __init__(self, max_items: int = 200) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, Diagnosis] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, d: Diagnosis) -> str:
        key = secrets.token_hex(6)
        with self._lock:
            self._items[key] = d
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return key

    def get(self, key: str | None) -> Diagnosis | None:
        if not key:
            return None
        with self._lock:
            return self._items.get(key)
