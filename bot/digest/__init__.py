"""Slow-log digest, like pt-query-digest for Milvus: DigestBuilder.add(req) per slow request, then
finish(milvus) -> Digest (shapes ranked by total slow time, outliers, MISC)."""

from __future__ import annotations

from bot.digest.builder import DigestBuilder
from bot.digest.model import Digest, FilterAnalysis, ShapeStats

__all__ = ["Digest", "DigestBuilder", "FilterAnalysis", "ShapeStats"]
