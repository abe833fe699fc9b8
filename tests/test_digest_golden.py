"""Golden digest: a generated Milvus log with known shapes and durations, digested through the CLI
(`milvus-triage digest FILE --format json --top 3`), and every figure checked against values
computed here from the generator's own numbers.

Quantile tolerance: p50/p95 come from a log-bucket sketch with 1% relative accuracy
(bot/digest/digest.yaml `sketch_relative_accuracy`), so they are checked within 1% of the exact
nearest-rank quantile; counts, totals, min, max, V/M, times and histograms are exact.
"""

from __future__ import annotations

import gzip
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from bot.digest.sketch import histogram_bucket
from tests.test_digest_helpers import (
    at,
    nearest_rank,
    ordinary,
    query_text,
    search_json,
    search_text,
    vm_ratio,
)

TRICKY = ['milvus-io', 'he said "hi"', "o'brien", "北京 && 上海", "a == b || c", "[x]=y", "tab\there", "🙂"]


@dataclass
class Spec:
    name: str
    durations: list[float]
    line: Callable[[float, float, int], str]  # (time offset s, duration s, index) -> log line
    nq: list[int] | None = None  # per request, for per-NQ figures (None: 1)
    per_nq_logged: bool = True


def _user_repo(i: int) -> str:
    return f"user == {json.dumps(TRICKY[i % len(TRICKY)], ensure_ascii=False)} && repo == 'r{i}'"


def _a(t: float, d: float, i: int) -> str:  # text (2.6 field set) and JSON alternate: one shape
    if i % 2:
        return search_json(at(t), d, dsl=_user_repo(i), params={"nprobe": 7 + i}, trace=f"a{i}")
    return search_text(at(t), d, dsl=_user_repo(i), params={"nprobe": 7 + i}, version="2.6", trace=f"a{i}")


def _b(t: float, d: float, i: int) -> str:  # `in` lists of different lengths: one shape
    n = (1, 3, 50)[i % 3]
    return query_text(at(t), d, expr=f"id in [{', '.join(str(10 * k + i) for k in range(n))}]", trace=f"b{i}")


def _chain(n: int, i: int) -> str:
    return " || ".join(f'tag == "t{i}-{k}"' for k in range(n))


def _c(t: float, d: float, i: int) -> str:  # OR chains of 3, 5, 9 terms: one bucket, one shape
    return search_text(at(t), d, dsl=_chain((3, 5, 9)[i % 3], i), trace=f"c{i}")


def _variant(**kw: object) -> Callable[[float, float, int], str]:
    def line(t: float, d: float, i: int) -> str:
        args = {"dsl": _user_repo(i), "params": {"nprobe": 16}, "version": "2.6", "trace": f"v{i}"}
        args.update(kw)
        return search_text(at(t), d, **args)  # type: ignore[arg-type]
    return line


SPECS = [
    Spec("A", [5.25, 6.5, 7.125, 12.0, 5.5, 30.0, 8.75, 6.0, 9.5, 5.0], _a),
    Spec("B", [5.125, 5.25, 5.375, 20.0, 30.0, 40.0], _b, per_nq_logged=False),
    Spec("C", [6.0, 7.0, 8.0, 60.0, 70.0], _c, per_nq_logged=False),
    Spec("C12", [6.5], lambda t, d, i: search_text(at(t), d, dsl=_chain(12, i), trace="c12")),  # 10-100 bucket
    Spec("D", [5.0, 5.0], _variant(collection="docs")),  # other collection
    Spec("E", [50.0], _variant(nq=100), nq=[100]),  # other NQ bucket
    Spec("F", [5.5], _variant(params={"nprobe": 256})),  # other params bucket
    Spec("G", [5.625], _variant(dsl="user == 'a' || repo == 'b'")),  # other operator
    Spec("H", [5.75], _variant(dsl="user == 'a' && lang == 'b'")),  # other field
    Spec("O", [80.0], _variant(collection="faq", dsl="lang == 'x'")),  # rare and very slow
]
SHAPE_ORDER = ["C", "B", "A", "O", "E", "D", "C12", "H", "G", "F"]  # by total time, then calls


def _write_log(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """The log, interleaving shapes in time with ordinary lines; -> per shape [(t, duration, line)]."""
    per: dict[str, list[tuple[float, float, str]]] = {s.name: [] for s in SPECS}
    lines: list[str] = []
    t = 0.0
    queue = [(s, i, d) for s in SPECS for i, d in enumerate(s.durations)]
    queue.sort(key=lambda x: (x[1], x[0].name))  # round robin over shapes
    for step, (spec, i, d) in enumerate(queue):
        t = round(t + 1.5, 3)
        line = spec.line(t, d, i)
        per[spec.name].append((t, d, line))
        lines.append(line)
        lines.append(ordinary(at(t + 0.001), step))
    lines.append('[2026/11/24 15:59:00.000 +00:00] [WARN] [gc/gc_tuner.go:99] ["GC Tune done, and the gc is slow"]')
    lines.append(search_text(at(t + 1), 9.0)[:150])  # truncated by a crash: malformed, not counted
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return per


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[tuple[float, float, str]]]]:
    path = tmp_path_factory.mktemp("digest") / "milvus.log"
    return path, _write_log(path)


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["--config", "/nonexistent/clusters.yaml", "digest", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _check_shape(s: dict, spec: Spec, rows: list[tuple[float, float, str]], grand_total: float) -> None:
    ds = [d for _, d, _ in rows]
    total = sum(ds)
    assert s["count"] == len(ds), spec.name
    assert s["total_s"] == pytest.approx(total, rel=1e-9)
    assert s["share"] == pytest.approx(total / grand_total, rel=1e-9)
    assert s["avg_s"] == pytest.approx(total / len(ds), rel=1e-9)
    assert s["max_s"] == pytest.approx(max(ds), rel=1e-9)
    assert s["min_s"] == pytest.approx(min(ds), rel=1e-9)
    assert s["p50_s"] == pytest.approx(nearest_rank(ds, 0.5), rel=0.01)
    assert s["p95_s"] == pytest.approx(nearest_rank(ds, 0.95), rel=0.01)
    assert s["vm_ratio"] == pytest.approx(vm_ratio(ds), rel=1e-6)
    nqs = spec.nq or [1] * len(ds)
    per_nq = [d / n for d, n in zip(ds, nqs, strict=True)]
    if spec.name == "B":  # Query lines have no NQ
        assert s["per_nq_p50_s"] is None and s["max_nq"] is None
        assert s["nq_bucket"] == "-"
    else:
        assert s["per_nq_p50_s"] == pytest.approx(nearest_rank(per_nq, 0.5), rel=0.01)
        assert s["per_nq_p95_s"] == pytest.approx(nearest_rank(per_nq, 0.95), rel=0.01)
        assert s["max_nq"] == max(nqs)
    assert s["first_seen"] == at(min(t for t, _, _ in rows)).isoformat()
    assert s["last_seen"] == at(max(t for t, _, _ in rows)).isoformat()
    want_hist = [0] * 6
    for d in ds:
        want_hist[histogram_bucket(d)] += 1
    assert list(s["histogram"].values()) == want_hist
    assert list(s["histogram"]) == ["<10ms", "10-100ms", "100ms-1s", "1-10s", "10-100s", "100s+"]
    _, worst_d, worst_line = max(rows, key=lambda r: (r[1], -r[0]))
    assert s["worst"]["duration_s"] == pytest.approx(worst_d)
    assert s["worst"]["raw"] == worst_line


def test_golden_digest_every_figure(golden, capsys) -> None:
    path, per = golden
    out = _run_json(capsys, str(path), "--top", "3")
    all_durations = [d for rows in per.values() for _, d, _ in rows]
    grand_total = sum(all_durations)
    specs = {s.name: s for s in SPECS}

    # Header figures.
    assert out["total_count"] == len(all_durations) == 29
    assert out["total_s"] == pytest.approx(grand_total, rel=1e-9)
    assert out["shape_count"] == len(SPECS)
    assert out["malformed"] == 1
    assert out["lines_read"] == 2 * 29 + 2
    all_times = [t for rows in per.values() for t, _, _ in rows]
    assert out["first_seen"] == at(min(all_times)).isoformat()
    assert out["last_seen"] == at(max(all_times)).isoformat()
    assert sum(out["histogram"].values()) == 29

    # Ranking by total time: the top 3, each figure.
    ranked = sorted(SPECS, key=lambda s: (-sum(s.durations), -len(s.durations)))
    assert [s.name for s in ranked] == SHAPE_ORDER
    assert len(out["shapes"]) == 3
    for s, name in zip(out["shapes"], SHAPE_ORDER[:3], strict=True):
        _check_shape(s, specs[name], per[name], grand_total)

    # Outliers: rare (<= 5 calls) and p95 >= 10x the median shape p95, or max >= 60 s; outside the top.
    median_p95 = statistics.median(nearest_rank(s.durations, 0.95) for s in SPECS)
    want_outliers = [n for n in SHAPE_ORDER[3:]
                     if len(specs[n].durations) <= 5
                     and (nearest_rank(specs[n].durations, 0.95) >= 10 * median_p95 or max(specs[n].durations) >= 60)]
    assert want_outliers == ["O"]
    assert [o["collection"] for o in out["outliers"]] == ["faq"]
    assert out["outliers"][0]["outlier"] is True
    _check_shape(out["outliers"][0], specs["O"], per["O"], grand_total)

    # MISC: every other shape folded into one row.
    misc_names = [n for n in SHAPE_ORDER[3:] if n not in want_outliers]
    misc = [d for n in misc_names for _, d, _ in per[n]]
    other = out["other"]
    assert other["fingerprint"] == "MISC"
    assert other["shape_count"] == len(misc_names) == 6
    assert other["count"] == len(misc)
    assert other["total_s"] == pytest.approx(sum(misc), rel=1e-9)
    assert other["share"] == pytest.approx(sum(misc) / grand_total, rel=1e-9)
    assert other["max_s"] == pytest.approx(max(misc))
    assert other["p95_s"] == pytest.approx(nearest_rank(misc, 0.95), rel=0.01)
    assert out["shapes"][0]["share"] + out["shapes"][1]["share"] + out["shapes"][2]["share"] \
        + out["outliers"][0]["share"] + other["share"] == pytest.approx(1.0)


def test_golden_shapes_merge_and_split(golden, capsys) -> None:
    path, _ = golden
    out = _run_json(capsys, str(path), "--top", "20")
    shapes = {s["fingerprint"]: s for s in out["shapes"]}
    assert len(shapes) == len(SPECS) == 10
    by = {}
    for s in out["shapes"]:
        by.setdefault(s["filter_shape"], []).append(s)
    # A: text and JSON lines, literals with quotes/unicode/operators, nprobe 7..16 -> one shape.
    a = [s for s in by["user == ? && repo == ?"] if s["collection"] == "products" and s["nq_bucket"] == "1"
         and s["params_bucket"] == {"nprobe": "1-16"}]
    assert len(a) == 1 and a[0]["count"] == 10
    assert a[0]["consistency_level"] == "Strong" and a[0]["output_field_count"] == 1
    # The same filter split by collection, NQ bucket and params bucket.
    variants = {(s["collection"], s["nq_bucket"], s["params_bucket"]["nprobe"]) for s in by["user == ? && repo == ?"]}
    assert variants == {("products", "1", "1-16"), ("docs", "1", "1-16"), ("products", "11-100", "1-16"),
                        ("products", "1", "129-1024")}
    assert by["id in [?+]"][0]["count"] == 6 and by["id in [?+]"][0]["kind"] == "query"
    assert by["id in [?+]"][0]["consistency_level"] == "gts=0 (Strong)"
    assert by["tag == ? [OR x N: 2-9]"][0]["count"] == 5
    assert by["tag == ? [OR x N: 10-100]"][0]["count"] == 1
    assert by["user == ? || repo == ?"][0]["count"] == 1
    assert by["user == ? && lang == ?"][0]["count"] == 1
    # Analysis of the chain shape, from its worst sample.
    chain = by["tag == ? [OR x N: 2-9]"][0]["analysis"]
    assert chain["or_chains"] == {"tag": 5}  # the worst request (70 s, index 4) had 5 terms
    assert chain["rewritten"] == "tag in [" + ", ".join(f'"t4-{k}"' for k in range(5)) + "]"
    assert len(shapes) == len({s["fingerprint"] for s in out["shapes"]})


def test_cli_text_report(golden, capsys) -> None:
    path, per = golden
    assert main(["--config", "/nonexistent/clusters.yaml", "digest", str(path), "--top", "3"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == "# milvus-triage slow-log digest"
    assert f"# Source: files: {path}" in lines
    assert "# Lines read: 60   Slow requests: 29   Shapes: 10   Malformed: 1" in lines
    profile = [ln for ln in lines if ln.startswith("#    1 ") or ln.startswith("#   O1 ") or ln.startswith("# MISC ")]
    assert len(profile) == 3
    c_total = sum(per["C"][i][1] for i in range(5))
    assert f"{c_total:,.1f}" in profile[0] and "search products tag == ? [OR x N: 2-9]" in profile[0]
    assert "search faq lang == ?" in profile[1]
    assert "<6 SHAPES>" in profile[2]
    # Histogram bars for shape 1 (C: three requests in 1-10s, two in 10-100s).
    block = text.split("# Shape 1:")[1].split("# Shape 2:")[0]
    assert "#       1-10s  " + "#" * 50 + " 3" in block
    assert "#     10-100s  " + "#" * 33 + " " * 17 + " 2" in block
    assert "#   rewrite: tag in [" in block


def test_cli_gzip_window_and_collection(golden, tmp_path, capsys) -> None:
    path, per = golden
    gz = tmp_path / "milvus.log.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    out = _run_json(capsys, str(gz), "--collection", "products")
    want = [d for n, rows in per.items() for _, d, line in rows if '"products"' in line or "=products]" in line]
    assert out["total_count"] == len(want)
    assert out["total_s"] == pytest.approx(sum(want))
    # A 30 s window ending 40 s after the base time: requests at 10..40 s.
    out = _run_json(capsys, str(path), "--window", "30s", "--at", at(40).isoformat())
    want = [d for rows in per.values() for t, d, _ in rows if 10 <= t <= 40]
    assert out["total_count"] == len(want) > 0
    assert out["total_s"] == pytest.approx(sum(want))


def test_cli_parallel_jobs_match_one_process(golden, capsys, monkeypatch) -> None:
    """Split into byte ranges over 2 worker processes, the digest is the same."""
    import bot.digest.files as files

    path, _ = golden
    one = _run_json(capsys, str(path), "--top", "20", "--jobs", "1")
    monkeypatch.setattr(files, "MIN_SPLIT_BYTES", 1)
    assert len(files.plan([str(path)], 2, 1)) == 2
    two = _run_json(capsys, str(path), "--top", "20", "--jobs", "2")
    for key in ("total_count", "shape_count", "lines_read", "malformed", "first_seen", "last_seen", "histogram"):
        assert two[key] == one[key], key
    assert two["total_s"] == pytest.approx(one["total_s"])
    pairs = zip(one["shapes"], two["shapes"], strict=True)
    for a, b in pairs:
        assert (a["fingerprint"], a["count"], a["max_s"], a["p95_s"]) == (b["fingerprint"], b["count"], b["max_s"],
                                                                          b["p95_s"])
        assert a["vm_ratio"] == pytest.approx(b["vm_ratio"])
        assert a["worst"]["raw"] == b["worst"]["raw"]


def test_cli_errors(tmp_path, capsys) -> None:
    cfg = tmp_path / "clusters.yaml"
    cfg.write_text("clusters:\n  - name: prod-eu\n  - name: staging\n", encoding="utf-8")
    assert main(["--config", str(cfg), "digest", "prod-us"]) == 2
    err = capsys.readouterr().err
    assert "no such cluster or file: 'prod-us'" in err and "Known clusters: prod-eu, staging" in err
    assert main(["--config", str(cfg), "digest", str(tmp_path / "nope.log"), "--window", "30m"]) == 2
    assert "no such cluster or file" in capsys.readouterr().err
    log = tmp_path / "x.log"
    log.write_text("", encoding="utf-8")
    assert main(["--config", str(cfg), "digest", str(log), "--window", "banana"]) == 2
    assert "cannot read window 'banana'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["digest", str(log), "--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_cli_cluster_mode_reads_the_configured_log_files(golden, tmp_path, capsys) -> None:
    """A cluster name goes through bot.slowlog.collect.collect_slowlog (its files source here)."""
    path, per = golden
    cfg = tmp_path / "clusters.yaml"
    cfg.write_text(f"clusters:\n  - name: prod-eu\n    logs:\n      files: '{path.parent}/*.log'\n", encoding="utf-8")
    argv = ["--config", str(cfg), "digest", "prod-eu", "--window", "1m", "--at", at(40).isoformat(),
            "--collection", "products", "--format", "json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    want = [d for rows in per.values() for t, d, line in rows
            if 40 - 60 <= t <= 40 and ("=products]" in line or '"products"' in line)]
    assert out["total_count"] == len(want) > 0
    assert out["total_s"] == pytest.approx(sum(want))
    assert out["source"].startswith("files:")
    assert out["lines_read"] > 0


def test_auto_jobs_only_for_large_plain_input_on_idle_cores(tmp_path, monkeypatch) -> None:
    import bot.digest.files as files

    small = tmp_path / "small.log"
    small.write_bytes(b"x\n" * 10)
    assert files.resolve_jobs("auto", [str(small)]) == 1
    assert files.resolve_jobs(3, [str(small)]) == 3
    monkeypatch.setattr(files, "AUTO_JOBS_BYTES", 1)
    monkeypatch.setattr(files.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(files.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert files.resolve_jobs("auto", [str(small)]) == files.MAX_AUTO_JOBS
    monkeypatch.setattr(files.os, "getloadavg", lambda: (7.9, 0.0, 0.0))
    assert files.resolve_jobs("auto", [str(small)]) == 1  # busy machine: one process
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(b"x\n"))
    monkeypatch.setattr(files.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert files.resolve_jobs("auto", [str(gz)]) == 1  # gzip cannot be split
