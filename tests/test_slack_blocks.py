"""Rendering, limits, parsing, buttons, access, charts and the per-channel sender (no network)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block

from bot.charts import render_chart
from bot.config import parse_config
from bot.models import Diagnosis, Evidence, TimeWindow, TriageRequest
from bot.slack import buttons
from bot.slack.access import refusal
from bot.slack.blocks import check_limits, grafana_link, render_diagnosis
from bot.slack.dedup import EventDedup
from bot.slack.limits import MAX_TOTAL_CHARS, BlockLimitError, limit_problems, text_chars
from bot.slack.parse import CommandError, UnknownSubcommand, parse_command, strip_mentions
from bot.slack.sender import ChannelSender
from tests.slack_support.diagnoses import make_diagnosis

CONFIG = parse_config({"clusters": [
    {"name": "prod-eu", "access": {"channels": ["C1"]}},
    {"name": "prod-us", "access": {"users": ["UBOB"]}},
    {"name": "staging"},
]})


def _all_text(blocks: list[dict]) -> str:
    return json.dumps(blocks)


# --------------------------------------------------------------------------- limits


def _section(n: int) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "x" * n}}


def test_check_limits_accepts_a_normal_message_and_rejects_each_limit() -> None:
    assert check_limits([_section(10)]) == [_section(10)]
    with pytest.raises(BlockLimitError, match="51 blocks"):
        check_limits([_section(1)] * 51)
    with pytest.raises(BlockLimitError, match=r"/blocks/0"):
        check_limits([_section(3001)])
    with pytest.raises(BlockLimitError, match="characters of text"):
        check_limits([_section(2900)] * 5)  # each block fine, total 14.5k over the 12k budget
    with pytest.raises(BlockLimitError, match="header"):
        check_limits([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    assert limit_problems([{"type": "no_such_block"}]) == ["/blocks/0: unknown block type 'no_such_block'"]


# --------------------------------------------------------------------------- rendering


def test_summary_and_details_validate_and_name_the_cluster() -> None:
    d = make_diagnosis()
    r = render_diagnosis(d, grafana_url="https://grafana.example/d/x?orgId=1&from=now-6h&to=now", diagnosis_id="ab12")
    for blocks in (r.summary, r.details):
        check_limits(blocks)
        assert all(Block.parse(b) is not None for b in blocks)
    assert r.text.startswith("prod-eu")
    assert r.summary[0]["type"] == "header" and "prod-eu" in r.summary[0]["text"]["text"]
    details = _all_text(r.details)
    # numbered fix steps and the code snippet are in the thread message
    assert "1. step 0" in details and "3. step 2" in details and "```client.search(" in details
    assert r.overflow is None
    actions = next(b for b in r.summary if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == list(buttons.ACTIONS)
    assert "Widen window to 1h" in actions[1]["text"]["text"]


def test_user_and_log_text_is_escaped_everywhere() -> None:
    d = make_diagnosis(filter_text='user == "<!channel>" && x == "<@U123>" && y == "a&b"')
    r = render_diagnosis(d)
    for blocks in (r.summary, r.details):
        text = _all_text(blocks)
        assert "<!channel>" not in text and "<@U123>" not in text
        assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in r.text


def test_oversized_diagnosis_is_cut_visibly_and_the_rest_goes_to_a_file() -> None:
    d = make_diagnosis(findings=40, evidence_lines=20, fix_steps=10)
    r = render_diagnosis(d)
    check_limits(r.details)
    assert len(r.details) <= 50 and text_chars(r.details) <= MAX_TOTAL_CHARS
    assert r.overflow is not None and r.overflow_filename.endswith(".txt")
    assert "full report is in the file" in _all_text(r.details)
    # the file holds every finding, unescaped (a file is not mrkdwn)
    assert "Requests with NQ=8192 fill the query-node queue (39)" in r.overflow
    assert '"<!channel>"' in r.overflow


def test_one_huge_finding_is_split_into_sections_under_3000_chars() -> None:
    d = make_diagnosis(findings=1, evidence_lines=120)
    r = render_diagnosis(d)
    sections = [b for b in r.details if b["type"] == "section"]
    assert len(sections) >= 2
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)


def test_healthy_diagnosis_says_so() -> None:
    window = TimeWindow(start=datetime(2026, 1, 1, 10, tzinfo=UTC), end=datetime(2026, 1, 1, 10, 30, tzinfo=UTC))
    d = Diagnosis(request=TriageRequest(cluster="staging", window=window),
                  evidence=Evidence(cluster="staging", window=window, gathered_at=window.end),
                  healthy=["proxy p99 40 ms", "queue p99 2 ms"], verdict="staging looks healthy")
    r = render_diagnosis(d)
    assert r.summary[0]["text"]["text"] == "staging looks healthy"
    assert "No slow-search cause found" in _all_text(r.summary)
    assert "Checked and healthy" in _all_text(r.details)


def test_grafana_link_sets_the_window_in_ms_and_drops_old_from_to() -> None:
    w = TimeWindow(start=datetime(2026, 1, 1, 10, tzinfo=UTC), end=datetime(2026, 1, 1, 10, 30, tzinfo=UTC))
    link = grafana_link("https://g.example/d/abc?orgId=1&from=now-6h&to=now&var-ns=milvus", w)
    assert link == ("https://g.example/d/abc?orgId=1&var-ns=milvus&from=1767261600000&to=1767263400000")
    assert grafana_link(None, w) is None


# --------------------------------------------------------------------------- parsing, buttons, access


def test_parse_command_accepts_the_documented_forms() -> None:
    now = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    c = parse_command("slow prod-eu my_repos 2h at 15:00", CONFIG, now=now)
    assert (c.sub, c.cluster, c.collection, c.window) == ("slow", "prod-eu", "my_repos", "2h")
    assert c.at == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert parse_command("slowlog staging 15m", CONFIG).window == "15m"
    assert parse_command("", CONFIG).sub == "help"
    assert parse_command("handoff since 08:00", CONFIG, now=now).since == datetime(2026, 11, 24, 8, tzinfo=UTC)
    assert parse_command("handoff 12h", CONFIG).handoff_window == "12h"


@pytest.mark.parametrize(("text", "message"), [
    ("slow prod-euu", "Did you mean `prod-eu`"),
    ("slow", "needs a cluster"),
    ("slow prod-eu 1h 2h", "two windows"),
    ("slow prod-eu coll extra_coll", "unexpected"),
    ("slow prod-eu 9d", "longer than the maximum of 7d"),
    ("slow prod-eu bad-name!", "not a valid collection name"),
    ("slow prod-eu at 25:99", "cannot read time"),
    ("clusters now", "takes no arguments"),
    ("handoff yesterday", "unexpected"),
])
def test_parse_command_rejects_bad_input_with_a_specific_message(text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command(text, CONFIG)


def test_unknown_cluster_lists_known_ones_escaped() -> None:
    with pytest.raises(CommandError) as e:
        parse_command("slow <!channel>", CONFIG)
    assert "`prod-eu`, `prod-us`, `staging`" in str(e.value)
    assert "<!channel>" not in str(e.value) and "&lt;!channel&gt;" in str(e.value)


def test_unknown_subcommand_is_its_own_error() -> None:
    with pytest.raises(UnknownSubcommand):
        parse_command("explode prod-eu", CONFIG)


def test_strip_mentions() -> None:
    assert strip_mentions("<@UBOT0001> slow prod-eu 1h") == "slow prod-eu 1h"
    assert strip_mentions("<@UBOT0001|milvus-triage>   help") == "help"


def test_button_values_round_trip_and_are_revalidated() -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    w = TimeWindow(start=end - timedelta(minutes=30), end=end)
    value = buttons.encode("prod-eu", "my_repos", w, "abc123")
    bt = buttons.decode(value, CONFIG)
    assert (bt.cluster, bt.collection, bt.window, bt.at, bt.diagnosis_id) == ("prod-eu", "my_repos", "30m", end, "abc123")
    assert bt.widened().window == "1h"
    assert buttons.decode(json.dumps({"c": "prod-eu", "w": "5d", "at": int(end.timestamp())}), CONFIG).widened().window == "7d"
    assert not buttons.decode(json.dumps({"c": "prod-eu", "w": "7d", "at": int(end.timestamp())}), CONFIG).can_widen
    for bad in ("not json", json.dumps({"c": "nope", "w": "30m", "at": 1}),
                json.dumps({"c": "prod-eu", "w": "30m", "at": 1, "n": "x;drop"}),
                json.dumps({"c": "prod-eu", "w": "30 m", "at": 1}),
                json.dumps({"c": "prod-eu", "w": "30m", "at": "yesterday"}),
                json.dumps({"c": "prod-eu", "w": "30m", "at": int(time.time()) + 86400})):
        with pytest.raises(CommandError):
            buttons.decode(bad, CONFIG)


def test_access_lists() -> None:
    eu, us, staging = CONFIG.clusters
    assert refusal(eu, "C1", "UANY") is None
    assert "can only be asked about in <#C1>" in (refusal(eu, "C2", "UANY") or "")
    assert refusal(us, "C9", "UBOB") is None
    assert "not on the list" in (refusal(us, "C9", "UALICE") or "")
    assert refusal(staging, "C9", "UALICE") is None


def test_event_dedup_memory_and_store() -> None:
    d = EventDedup()
    assert d.first_time("Ev1") and not d.first_time("Ev1") and d.first_time("Ev2")

    class Store:
        def __init__(self) -> None:
            self.seen: set[str] = set()

        def claim_event(self, key: str) -> bool:
            new = key not in self.seen
            self.seen.add(key)
            return new

    store = Store()
    shared = EventDedup(store=store)
    assert shared.first_time("Ev9") and not EventDedup(store=store).first_time("Ev9")


# --------------------------------------------------------------------------- chart, sender


def test_chart_is_a_png_with_both_panels() -> None:
    png = render_chart(make_diagnosis())
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    window = TimeWindow(start=datetime(2026, 1, 1, 10, tzinfo=UTC), end=datetime(2026, 1, 1, 10, 30, tzinfo=UTC))
    empty = Diagnosis(request=TriageRequest(cluster="staging", window=window),
                      evidence=Evidence(cluster="staging", window=window, gathered_at=window.end))
    assert render_chart(empty) is None


def test_sender_keeps_order_per_channel_and_does_not_block_other_channels() -> None:
    sender = ChannelSender(max_workers=4)
    gate = threading.Event()
    order: list[str] = []
    blocked = sender.submit("C_SLOW", lambda: gate.wait(5) and order.append("slow-1"))
    queued = sender.submit("C_SLOW", lambda: order.append("slow-2"))
    other = sender.submit("C_FAST", lambda: order.append("fast"))
    other.result(timeout=2)  # finishes while C_SLOW is still held (as during a 429 sleep)
    assert order == ["fast"] and not blocked.done() and not queued.done()
    gate.set()
    queued.result(timeout=2)
    assert order == ["fast", "slow-1", "slow-2"]
    sender.shutdown()


def test_cpu_pool_runs_the_chart_in_a_worker_process() -> None:
    """Production runs diagnose and the chart in spawned worker processes: a Diagnosis must survive pickling."""
    import os

    from bot.slack.context import make_cpu_pool

    pool = make_cpu_pool(1)
    try:
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
        png = pool.submit(render_chart, make_diagnosis()).result(timeout=60)
        assert png is not None and png[:4] == b"\x89PNG"
    finally:
        pool.shutdown()
