"""Scheduled handoffs: at each cron time of `handoff.schedules`, post a handoff to `handoff.channel`.

Every replica runs this loop; the store's handoff_slots table (insert-if-absent on schedule +
slot time) lets exactly one of them post each slot. Each handoff covers the time since the
schedule's previous slot. The same loop prunes old dedup keys now and then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from bot.escape import slack_escape, truncate
from bot.store.store import KEY_RETENTION

log = logging.getLogger(__name__)

MAX_SLEEP_S = 300.0  # wake up now and then even without a due slot (clock jumps, stop requests)


class HandoffScheduler:
    def __init__(self, ctx: Any, clock: Callable[[], datetime] | None = None) -> None:
        self.ctx = ctx
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune: datetime | None = None

    @property
    def schedules(self) -> list[str]:
        return list(self.ctx.config.handoff.schedules)

    def _tz(self) -> ZoneInfo:
        return ZoneInfo(self.ctx.config.handoff.timezone)

    def next_slot(self, schedule: str, after: datetime) -> datetime:
        it = croniter(schedule, after.astimezone(self._tz()))
        return it.get_next(datetime).astimezone(UTC)

    def previous_slot(self, schedule: str, before: datetime) -> datetime:
        it = croniter(schedule, before.astimezone(self._tz()))
        return it.get_prev(datetime).astimezone(UTC)

    def run_slot(self, schedule: str, slot: datetime) -> bool:
        """Post the handoff for one slot if this replica wins it. True when this call posted."""
        store, config = self.ctx.store, self.ctx.config
        channel = config.handoff.channel
        if store is None or not channel:
            return False
        if not store.claim_handoff_slot(schedule, slot, channel):
            return False
        from bot.handoff import build_handoff, handoff_blocks, handoff_text

        since = self.previous_slot(schedule, slot)
        handoff = build_handoff(store, config, since, slot, now=self._clock())
        resp = self.ctx.client.chat_postMessage(channel=channel, text=slack_escape(truncate(handoff_text(handoff), 3000)),
                                                blocks=handoff_blocks(handoff), unfurl_links=False)
        store.set_handoff_posted(schedule, slot, resp.get("ts"))
        log.info("posted the %s handoff for %s to %s", schedule, slot.isoformat(), channel)
        return True

    def run_due(self, last: datetime, now: datetime) -> list[tuple[str, datetime]]:
        """Run every slot in (last, now]; returns the slots this replica posted."""
        posted = []
        for schedule in self.schedules:
            slot = self.next_slot(schedule, last)
            while slot <= now:
                try:
                    if self.run_slot(schedule, slot):
                        posted.append((schedule, slot))
                except Exception:
                    log.exception("scheduled handoff %s at %s failed", schedule, slot.isoformat())
                slot = self.next_slot(schedule, slot)
        return posted

    def _prune(self, now: datetime) -> None:
        if self._last_prune and now - self._last_prune < timedelta(hours=6):
            return
        self._last_prune = now
        try:
            removed = self.ctx.store.prune_keys(now - KEY_RETENTION)
            if removed:
                log.info("pruned %d dedup keys older than %s", removed, KEY_RETENTION)
        except Exception:
            log.exception("pruning dedup keys failed")

    def _loop(self) -> None:
        last = self._clock()
        while not self._stop.is_set():
            now = self._clock()
            nexts = [self.next_slot(s, now) for s in self.schedules]
            wait_s = min([(n - now).total_seconds() for n in nexts] + [MAX_SLEEP_S])
            if self._stop.wait(max(0.05, wait_s)):
                return
            now = self._clock()
            self.run_due(last, now)
            if self.ctx.store is not None:
                self._prune(now)
            last = now

    def start(self) -> HandoffScheduler:
        self._thread = threading.Thread(target=self._loop, name="handoff-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def start(ctx: Any) -> HandoffScheduler | None:
    """Start the scheduler thread when handoff.channel and handoff.schedules are set; else None."""
    cfg = ctx.config.handoff
    if not cfg.schedules:
        return None
    if not cfg.channel:
        log.warning("handoff.schedules is set but handoff.channel is not: no scheduled handoffs")
        return None
    if ctx.store is None:
        log.warning("scheduled handoffs need the history store: none is open")
        return None
    log.info("scheduled handoffs to %s at %s (%s)", cfg.channel, ", ".join(cfg.schedules), cfg.timezone)
    return HandoffScheduler(ctx).start()
