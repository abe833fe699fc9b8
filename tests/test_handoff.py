"""Handoffs over a seeded history of 10,000 diagnoses (SQLite and PostgreSQL): counts, rendering, CLI, schedule."""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.cli import main as cli_main
from bot.config import UnknownClusterError, parse_config
from bot.handoff import build_handoff, handoff_blocks, handoff_markdown, handoff_text, parse_since
from bot.handoff.render import MAX_BLOCKS, MAX_HEADER, MAX_SECTION_TEXT, ordinal
from bot.store import NewIncident, Store, open_store
from bot.timewindow import WindowError
from tests.support.history import CLUSTERS, make_diagnosis, synthetic_history

UNTIL = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(hours=12)
N = 10_000
CONFIG = parse_config({"clusters": [{"name": c} for c in [*CLUSTERS, "quiet-one"]],
                       "handoff": {"max_items": 5, "channel": "C0HANDOFF", "schedules": ["0 8,20 * * *"]}})


@functools.cache
def _history() -> tuple:
    return tuple(synthetic_history(N, UNTIL))


class Seeded:
    def __init__(self, store: Store, url: str, history: list) -> None:
        self.store, self.url, self.history = store, url, history


def _seed_incidents(store: Store) -> dict[str, int]:
    """Three incidents on prod-eu: resolved inside the window, still open (with a diagnosis), fired before."""
    def open_(key: str, alert: str, fired: datetime) -> int:
        inc, created = store.open_incident(NewIncident(
            ident=f"prod-eu|{alert} prod-eu|{key}", firing_key=key, cluster="prod-eu", alertname=alert,
            fired_at=fired, source="test", channel="C1", thread_ts=f"{fired.timestamp():.6f}"), now=fired)
        assert created and inc is not None
        return inc.id

    ids = {"resolved": open_("k1", "MilvusSlowQueries", UNTIL - timedelta(hours=5)),
           "open": open_("k2", "MilvusSearchLatencyHigh", UNTIL - timedelta(hours=2)),
           "old": open_("k3", "MilvusQueryNodeQueueLatencyHigh", UNTIL - timedelta(days=2))}
    store.resolve_incident(incident_id=ids["resolved"], resolved_at=UNTIL - timedelta(hours=4, minutes=37))
    store.resolve_incident(incident_id=ids["old"], resolved_at=UNTIL - timedelta(days=1))
    d = make_diagnosis("prod-eu", UNTIL - timedelta(hours=2), [("or_chain_filter", "my_repos"), ("heavy_nq", None)],
                       trigger="alert")
    store.record_diagnosis(d, channel="C1", incident_id=ids["open"], created_at=UNTIL - timedelta(hours=2))
    return ids


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('handoff') / 'store.db'}"
    else:
        factory: Callable[[], str] = request.getfixturevalue("pg_schema_factory")
        url = factory()
    store = open_store(url, use_env=False)
    history = list(_history())
    assert store.record_diagnoses(history) == N
    _seed_incidents(store)
    # the open incident's diagnosis is part of the history too
    history.append((make_diagnosis("prod-eu", UNTIL - timedelta(hours=2),
                                   [("or_chain_filter", "my_repos"), ("heavy_nq", None)]), UNTIL - timedelta(hours=2)))
    yield Seeded(store, url, history)
    store.close()


def _expected(history: list, since: datetime, until: datetime) -> dict:
    """The handoff's numbers, recomputed in plain Python from the seed."""
    diag: Counter = Counter()
    causes: dict[str, Counter] = defaultdict(Counter)
    week: Counter = Counter()
    in_window: Counter = Counter()
    slow_max: dict[tuple[str, str], float] = {}
    slow_count: Counter = Counter()
    slow_diags: Counter = Counter()
    for d, at in history:
        c = d.request.cluster
        inside = since <= at < until
        if inside:
            diag[c] += 1
            causes[c][d.top_cause or "healthy"] += 1
            per_coll: dict[str, list[float]] = defaultdict(list)
            for r in (d.evidence.slowlog.requests if d.evidence.slowlog else []):
                per_coll[r.collection].append(r.duration_s)
            for coll, ds in per_coll.items():
                key = (c, coll)
                slow_max[key] = max(slow_max.get(key, 0.0), max(ds) * 1000)
                slow_count[key] += len(ds)
                slow_diags[key] += 1
        for f in d.findings:
            key = (c, f.rule_id, f.collection or "")
            if until - timedelta(days=7) <= at < until:
                week[key] += 1
            if inside:
                in_window[key] += 1
    repeated = {k: n for k, n in week.items() if in_window[k] > 0 and n >= 2}
    return {"diagnoses": diag, "causes": causes, "repeated": repeated,
            "slowest": {k: (slow_max[k], slow_count[k], slow_diags[k]) for k in slow_max}}


def test_handoff_counts_match_the_seeded_history(seeded: Seeded) -> None:
    h = build_handoff(seeded.store, CONFIG, SINCE, UNTIL, now=UNTIL)
    exp = _expected(seeded.history, SINCE, UNTIL)
    by = {c.cluster: c for c in h.clusters}
    assert set(by) == {*CLUSTERS, "quiet-one"} and by["quiet-one"].quiet
    assert h.clusters[-1].cluster == "quiet-one"  # quiet clusters last
    assert sum(exp["diagnoses"].values()) > 100  # the window really holds a slice of the 10k
    for name in CLUSTERS:
        ch = by[name]
        assert ch.diagnoses == exp["diagnoses"][name]
        assert {c.cause: c.count for c in ch.top_causes} == dict(exp["causes"][name])
        assert [c.count for c in ch.top_causes] == sorted((c.count for c in ch.top_causes), reverse=True)
        got = {(name, r.rule_id, r.collection or ""): r.count for r in ch.repeated}
        assert got == {k: v for k, v in exp["repeated"].items() if k[0] == name}
        slow = {(name, s.collection): (round(s.max_ms, 3), s.slow_count, s.diagnoses) for s in ch.slowest}
        assert slow == {k: (round(v[0], 3), v[1], v[2]) for k, v in exp["slowest"].items() if k[0] == name}
        assert [s.max_ms for s in ch.slowest] == sorted((s.max_ms for s in ch.slowest), reverse=True)

    eu = by["prod-eu"]
    assert [x.alertname for x in eu.fired] == ["MilvusSlowQueries", "MilvusSearchLatencyHigh"]
    assert [(x.alertname, round(x.duration_s)) for x in eu.resolved] == [("MilvusSlowQueries", 23 * 60)]
    assert [x.alertname for x in eu.open] == ["MilvusSearchLatencyHigh"]
    assert eu.open[0].duration_s == 2 * 3600 and eu.open[0].last_finding == "OR chain on my_repos"
    # open fix steps come from the open incident's diagnosis: its warning and critical findings
    assert [(f.alertname, f.finding) for f in eu.open_fixes] == [
        ("MilvusSearchLatencyHigh", "OR chain on my_repos"),
        ("MilvusSearchLatencyHigh", "One request with NQ=8192 dominates the query node")]
    assert eu.open_fixes[0].steps[0] == "Rewrite the OR chain on `my_repos` as `field in [...]`"
    assert h.totals["diagnoses"] == sum(exp["diagnoses"].values())


def test_handoff_for_one_cluster_and_other_windows(seeded: Seeded) -> None:
    h = build_handoff(seeded.store, CONFIG, UNTIL - timedelta(days=3), UNTIL, cluster="prod-us", now=UNTIL)
    exp = _expected(seeded.history, UNTIL - timedelta(days=3), UNTIL)
    assert [c.cluster for c in h.clusters] == ["prod-us"]
    assert h.clusters[0].diagnoses == exp["diagnoses"]["prod-us"]
    early = build_handoff(seeded.store, CONFIG, UNTIL - timedelta(days=2, hours=1), UNTIL - timedelta(days=1, hours=12),
                          cluster="prod-eu", now=UNTIL)
    eu = early.clusters[0]
    assert [x.alertname for x in eu.fired] == ["MilvusQueryNodeQueueLatencyHigh"]
    assert [x.alertname for x in eu.open] == ["MilvusQueryNodeQueueLatencyHigh"]  # open at that window's end
    with pytest.raises(UnknownClusterError, match=r"unknown cluster 'prod-e'\. Did you mean 'prod-eu'"):
        build_handoff(seeded.store, CONFIG, SINCE, UNTIL, cluster="prod-e")
    with pytest.raises(ValueError, match="window is empty"):
        build_handoff(seeded.store, CONFIG, UNTIL, SINCE)


def test_rendering_respects_slack_limits_and_escapes(seeded: Seeded) -> None:
    h = build_handoff(seeded.store, CONFIG, SINCE, UNTIL, now=UNTIL)
    eu = next(c for c in h.clusters if c.cluster == "prod-eu")
    eu.open[0].last_finding = "OR chain on <!channel> & <@U123>"
    blocks = handoff_blocks(h)
    dumped = json.dumps(blocks)
    assert "<!channel>" not in dumped and "&lt;!channel&gt; &amp; &lt;@U123&gt;" in dumped
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= MAX_HEADER
    assert blocks[0]["text"]["text"] == "Milvus handoff: 08:00 → 20:00 UTC (12h)"
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in blocks if b["type"] == "section")
    assert sum(len(json.dumps(b)) for b in blocks) < 13_000
    assert blocks[-1]["type"] == "context" and "Quiet: quiet-one" in blocks[-1]["elements"][0]["text"]
    section = next(b["text"]["text"] for b in blocks if b["type"] == "section" and "*prod-eu*" in b["text"]["text"])
    assert "*Still open*" in section and "*Fix steps still open*" in section and "time this week:" in section

    text = handoff_text(h)
    assert "prod-eu: 2 fired · 1 resolved · 1 still open" in text
    assert "MilvusSlowQueries after 23 min" in text
    md = handoff_markdown(h)
    assert "### prod-eu: 2 fired" in md and "<!channel>" not in md and "\\<\\!channel\\>" in md


def test_many_busy_clusters_fold_into_fifty_blocks() -> None:
    from bot.handoff.model import ClusterHandoff, Handoff

    h = Handoff(since=SINCE, until=UNTIL, generated_at=UNTIL,
                clusters=[ClusterHandoff(cluster=f"c{i:02d}", diagnoses=i + 1) for i in range(40)])
    blocks = handoff_blocks(h)
    assert len(blocks) <= MAX_BLOCKS
    assert "+17 more clusters with activity" in blocks[-1]["elements"][0]["text"]


def test_repeated_ordinals() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 103)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "103rd"]


def test_parse_since() -> None:
    now = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("since 08:00", now) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert parse_since("11:00", now) == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # the last 11:00
    assert parse_since("08:00", now, timezone="Europe/Paris") == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert parse_since("", now, default="6h") == now - timedelta(hours=6)
    with pytest.raises(WindowError, match="use a duration"):
        parse_since("yesterday-ish", now)


def test_cli(seeded: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "clusters.yaml"
    cfg.write_text(yaml.safe_dump({"clusters": [{"name": c} for c in CLUSTERS], "store": {"url": seeded.url}}))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert cli_main(["--config", str(cfg), "handoff", "--since", "12h", "--until", UNTIL.isoformat(),
                     "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    exp = _expected(seeded.history, SINCE, UNTIL)
    assert {c["cluster"]: c["diagnoses"] for c in data["clusters"]} == dict(exp["diagnoses"])
    assert cli_main(["--config", str(cfg), "handoff", "--since", "08:00", "--until", UNTIL.isoformat(),
                     "--cluster", "prod-us"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Milvus handoff: 08:00 → 20:00 UTC (12h)\n") and "prod-us:" in out and "prod-eu" not in out
    assert cli_main(["--config", str(cfg), "handoff", "--cluster", "prod-e"]) == 2
    assert "Did you mean 'prod-eu'" in capsys.readouterr().err
    assert cli_main(["--config", str(cfg), "handoff", "--since", "soonish"]) == 2
    assert "use a duration (12h)" in capsys.readouterr().err


def test_scheduled_handoff_posts_once_per_slot(seeded: Seeded, fake_slack) -> None:  # type: ignore[no-untyped-def]
    from bot.alerts.scheduler import HandoffScheduler
    from bot.slack.client import make_web_client
    from bot.slack.context import BotContext
    from tests.fixtures.slack import BOT_TOKEN

    replicas = []
    for _ in range(2):
        ctx = BotContext(config=CONFIG, client=make_web_client(token=BOT_TOKEN, base_url=fake_slack.base_url),
                         store=open_store(seeded.url, use_env=False))
        replicas.append(HandoffScheduler(ctx, clock=lambda: UNTIL))
    last = UNTIL - timedelta(hours=13)  # the 08:00 and 20:00 slots are due
    posted = [s.run_due(last, UNTIL) for s in replicas] + [s.run_due(last, UNTIL) for s in replicas]
    assert sorted(slot for p in posted for _, slot in p) == [SINCE, UNTIL]
    msgs = fake_slack.of("chat.postMessage")
    assert len(msgs) == 2 and {m.params["channel"] for m in msgs} == {"C0HANDOFF"}
    blocks = [json.loads(m.params["blocks"]) if isinstance(m.params["blocks"], str) else m.params["blocks"]
              for m in msgs]
    headers = sorted(b[0]["text"]["text"] for b in blocks)
    assert headers == ["Milvus handoff: 08:00 → 20:00 UTC (12h)", "Milvus handoff: Mon 23 20:00 → 08:00 UTC (12h)"]
    assert replicas[0].next_slot("0 8,20 * * *", UNTIL) == UNTIL + timedelta(hours=12)
    for s in replicas:
        s.ctx.store.close()
