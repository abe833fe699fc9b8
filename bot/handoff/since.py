"""Read the handoff's start: "12h" (a duration back from now), "08:00" / "since 08:00" (the last such
time, in the handoff time zone), an ISO time, or nothing (the configured default)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.timewindow import WindowError, parse_duration, parse_time

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_since(text: str | None, now: datetime | None = None, default: str = "12h",
                timezone: str = "UTC") -> datetime:
    """The start of the handoff window. Raises WindowError with a usage hint on anything else."""
    now = now or datetime.now(UTC)
    t = (text or "").strip()
    if t.lower().startswith("since"):
        t = t[5:].strip()
    if not t:
        t = default
    m = _CLOCK.match(t)
    if m:
        hh, mm = int(m.group(1)), int(m.group(2))
        if hh > 23 or mm > 59:
            raise WindowError(f"cannot read time {text!r}: use HH:MM, e.g. 08:00")
        local_now = now.astimezone(ZoneInfo(timezone))
        at = local_now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if at > local_now:
            at -= timedelta(days=1)
        return at.astimezone(UTC)
    if re.fullmatch(r"(\d+[smhdw])+", t.lower()):
        return now - parse_duration(t)
    try:
        return parse_time(t, now)
    except WindowError as e:
        raise WindowError(f"cannot read {text!r}: use a duration (12h), a time of day (08:00 or "
                          f"'since 08:00') or an ISO time") from e
