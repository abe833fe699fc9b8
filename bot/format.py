"""The one formatter for signal values: units in, short human text out ("450 ms", "2.5%", "12,000")."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: bot.models would import pydantic on the digest's path
    from bot.models import Unit


def format_value(value: float | None, unit: Unit | str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "ms":
        return format_ms(value)
    if unit == "s":
        return format_seconds(value)
    if unit == "ratio":
        pct = value * 100.0
        return f"{pct:.0f}%" if pct >= 10 else f"{pct:.1f}%" if pct >= 0.1 else f"{pct:.2f}%"
    if unit == "per_s":
        return f"{_num(value)}/s"
    if unit == "cores":
        return f"{value:.2f} cores"
    if unit == "bytes":
        return format_bytes(value)
    if unit == "nq":
        return f"NQ {_num(value)}"
    return _num(value)


def format_ms(ms: float) -> str:
    if ms >= 60_000:
        m, s = divmod(ms / 1000.0, 60)
        return f"{int(m)}m{s:02.0f}s"
    if ms >= 1000:
        return f"{ms / 1000.0:.2f} s" if ms < 10_000 else f"{ms / 1000.0:.1f} s"
    if ms >= 10:
        return f"{ms:,.0f} ms"
    if ms >= 1:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def format_seconds(s: float) -> str:
    """Durations in seconds (uptime, windows): '0 s', '45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    if s == 0:
        return "0 s"
    if abs(s) < 1:
        return format_ms(s * 1000.0)
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        h, rest = divmod(int(s), 3600)
        return f"{h} h {rest // 60:02d} min"
    d, rest = divmod(int(s), 86400)
    return f"{d} d {rest // 3600} h"


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TiB"


def format_ratio_x(ratio: float) -> str:
    """How many times its usual: 12.345 -> '12x', 1.54 -> '1.5x'."""
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def _num(v: float) -> str:
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:.2f}"
