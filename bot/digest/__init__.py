"""Slow-log digest (placeholder until the digest issue lands): DigestBuilder.add / finish."""

from __future__ import annotations

from typing import Any

from bot.digest.model import Digest, FilterAnalysis, ShapeStats
from bot.models import SlowRequest

__all__ = ["Digest", "DigestBuilder", "FilterAnalysis", "ShapeStats"]


class DigestBuilder:
    def __init__(self, top: int = 20) -> None:
        self.top = top
        self.count = 0
        self.total_s = 0.0

    def add(self, req: SlowRequest) -> None:
        self.count += 1
        self.total_s += req.duration_s

    def finish(self, milvus: Any = None) -> Digest:
        return Digest(total_count=self.count, total_s=self.total_s)
