"""Parsing of user-typed windows ("30m", "2h", "1d") and times ("2026-11-24T15:00", "15:00", "now")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.models import TimeWindow

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:(\d+)([smhdw]))+$")
_PART = re.compile(r"(\d+)([smhdw])")

MAX_WINDOW = timedelta(days=7)


class WindowError(ValueError):
    """A window or time the user typed that cannot be understood."""


def parse_duration(text: str) -> timedelta:
    """'30m' -> 30 minutes; '1h30m' -> 90 minutes. Only whole units s/m/h/d/w."""
    t = text.strip().lower()
    if not t or not _DURATION.match(t):
        raise WindowError(f"cannot read window {text!r}: use a duration such as 15m, 1h or 2h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(t))
    if seconds <= 0:
        raise WindowError(f"window {text!r} is empty")
    if seconds > MAX_WINDOW.total_seconds():
        raise WindowError(f"window {text!r} is longer than the maximum of 7d")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """timedelta -> the shortest Prometheus range string ('90m' -> '1h30m')."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, _UNITS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def parse_time(text: str | None, now: datetime | None = None) -> datetime:
    """An absolute time: ISO 8601, 'HH:MM' (today, UTC; yesterday if in the future), unix seconds, or 'now'."""
    now = now or datetime.now(UTC)
    if text is None or text.strip().lower() in ("", "now"):
        return now
    t = text.strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", t):
        return datetime.fromtimestamp(float(t), UTC)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", t)
    if m:
        hh, mm = int(m.group(1)), int(m.group(2))
        if hh > 23 or mm > 59:
            raise WindowError(f"cannot read time {text!r}")
        at = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        return at - timedelta(days=1) if at > now else at
    try:
        at = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError as e:
        raise WindowError(f"cannot read time {text!r}: use ISO 8601 (2026-11-24T15:00Z), HH:MM or unix seconds") from e
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def make_window(window: str | timedelta = "30m", at: str | datetime | None = None,
                now: datetime | None = None) -> TimeWindow:
    """The window ending at `at` (default now) and lasting `window`."""
    delta = parse_duration(window) if isinstance(window, str) else window
    end = at if isinstance(at, datetime) else parse_time(at, now)
    return TimeWindow(start=end - delta, end=end)
