"""Button values: what a Re-run / Widen window / Show evidence click needs, encoded small and re-validated.

A value is JSON the bot wrote, but it comes back from Slack as user-controlled input, so every
field is validated again on click exactly like a typed command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import AppConfig
from bot.models import TimeWindow
from bot.slack.parse import CommandError, validate_cluster, validate_collection
from bot.timewindow import MAX_WINDOW, format_duration, parse_duration

ACTION_RERUN = "milvus_triage.rerun"
ACTION_WIDEN = "milvus_triage.widen"
ACTION_EVIDENCE = "milvus_triage.evidence"
ACTIONS = (ACTION_RERUN, ACTION_WIDEN, ACTION_EVIDENCE)
MAX_VALUE = 2000


@dataclass(frozen=True)
class ButtonTarget:
    cluster: str
    collection: str | None
    window: str  # duration text
    at: datetime  # end of the window
    diagnosis_id: str | None = None  # key into the recent-diagnosis cache, for Show evidence

    def widened(self) -> ButtonTarget:
        wider = min(parse_duration(self.window) * 2, MAX_WINDOW)
        return ButtonTarget(self.cluster, self.collection, format_duration(wider), self.at, None)

    @property
    def can_widen(self) -> bool:
        return parse_duration(self.window) < MAX_WINDOW


def encode(cluster: str, collection: str | None, window: TimeWindow, diagnosis_id: str | None = None) -> str:
    data = {"c": cluster, "w": window.label, "at": int(window.end.timestamp())}
    if collection:
        data["n"] = collection
    if diagnosis_id:
        data["d"] = diagnosis_id
    value = json.dumps(data, separators=(",", ":"))
    if len(value) > MAX_VALUE:  # cannot happen with validated names; fail loudly rather than send bad blocks
        raise ValueError("button value too long")
    return value


def decode(value: str, config: AppConfig) -> ButtonTarget:
    try:
        data = json.loads(value)
    except (TypeError, ValueError) as e:
        raise CommandError("this button's value is not readable; run the command again.") from e
    if not isinstance(data, dict):
        raise CommandError("this button's value is not readable; run the command again.")
    cluster = validate_cluster(str(data.get("c", "")), config)
    collection = data.get("n")
    if collection is not None:
        collection = validate_collection(str(collection))
    window_text = str(data.get("w", ""))
    try:
        parse_duration(window_text)
    except ValueError as e:
        raise CommandError("this button carries an invalid window; run the command again.") from e
    at_raw = data.get("at")
    if not isinstance(at_raw, int) or at_raw <= 0:
        raise CommandError("this button carries an invalid time; run the command again.")
    at = datetime.fromtimestamp(at_raw, UTC)
    if at > datetime.now(UTC) + timedelta(minutes=5):
        raise CommandError("this button's window ends in the future; run the command again.")
    did = data.get("d")
    did = did if isinstance(did, str) and did.isalnum() and len(did) <= 40 else None
    return ButtonTarget(cluster, collection, window_text, at, did)
