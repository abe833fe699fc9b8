"""Benchmark: digest a large Milvus log and compare with `grep -F 'slow' FILE | wc -l`.

    python3 bench/digest.py                 # 1 GB log (generated once under bench/out/, then reused)
    python3 bench/digest.py --size-mb 100   # a quicker run

The log is made of ordinary Milvus INFO/WARN lines in Milvus's own text layout and about 1% slow
request lines (`Search slow`, `Query slow`, `HybridSearch slow`; text and JSON layouts; 2.3 and
2.5/2.6 field sets) over many shapes with varied literals, durations, NQ and params. The digest runs
in a child process (the CLI's code path: scan_slow_lines -> parse_slow_line -> DigestBuilder ->
text report) so its peak RSS is that process's ru_maxrss. Targets: >= 1/3 of grep's throughput,
peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SLOW_FRACTION = 0.01
SEED = 20261124

COLLECTIONS = ["products", "my_repos", "docs", "hs_hnsw", "images", "faq", "orders", "events"]
FIELDS = ["user", "repo", "tag", "color", "brand", "category", "lang", "region"]


# --------------------------------------------------------------------------- generation


def _ts(t: datetime) -> str:
    return t.strftime("%Y/%m/%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} +00:00"


def _trace(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _word(rng: random.Random) -> str:
    return rng.choice(["red", "blue", "milvus-io", "proxy", "北京", "上海", "a && b", "x == 'y'", 'say "hi"',
                       "α-β", "v1.2", "o'brien", "100%", "[x]", "zeta"]) + str(rng.randint(0, 999))


def _lit(rng: random.Random) -> str:
    return json.dumps(_word(rng), ensure_ascii=False)


def _filter(rng: random.Random, pick: int, f1: str, f2: str) -> str:
    """Filter template `pick` on fields f1/f2, with fresh literals."""
    if pick == 0:
        return ""
    if pick == 1:
        return f"{f1} == {_lit(rng)} && {f2} == {_lit(rng)}"
    if pick == 2:
        n = rng.choice([2, 3, 5, 8, 12, 30, 60, 150])
        return " || ".join(f"{f1} == {_lit(rng)}" for _ in range(n))
    if pick == 3:
        n = rng.randint(1, 200)
        return f"id in [{', '.join(str(rng.randint(1, 10**9)) for _ in range(n))}]"
    if pick == 4:
        return f'meta["{f1}"] == {_lit(rng)} and price > {rng.randint(1, 500)}'
    if pick == 5:
        return f'{f1} like "%{rng.randint(0, 99)}abc%"'
    if pick == 6:
        return f'{f1} like "pre{rng.randint(0, 99)}%"'
    if pick == 7:
        return f"array_contains(tags, {_lit(rng)}) and year >= {rng.randint(1990, 2030)}"
    if pick == 8:
        return f"{rng.randint(0, 50)} < age < {rng.randint(51, 99)} or {f1} in {{vals}}"
    if pick == 9:
        n = rng.choice([3, 20, 49])
        inner = " or ".join(f'meta["k"] == "v{i}"' for i in range(n))
        return f"(({inner}))"
    if pick == 10:
        return f"json_contains_any(meta[\"labels\"], [{_lit(rng)}, {_lit(rng)}]) && not ({f2} == {_lit(rng)})"
    if pick == 11:
        return f"{f1} != {_lit(rng)} and score > {rng.random():.3f}"
    if pick == 12:
        return f"{f1} in [{', '.join(_lit(rng) for _ in range(rng.randint(1, 30)))}] AND {f2} == {_lit(rng)}"
    return f"user == {_lit(rng)} || repo == {_lit(rng)}"


_PICKS = 14


def _template(rng: random.Random, coll: str) -> dict[str, object]:
    """One query an application sends: fixed fields, params and usual NQ; literals vary per request."""
    f1, f2 = rng.sample(FIELDS, 2)
    return {"coll": coll, "kind": rng.choices(["search", "query", "hybrid"], [80, 15, 5])[0],
            "pick": rng.randrange(_PICKS), "f1": f1, "f2": f2,
            "nq": rng.choice([[1], [1, 1, 1, 10], [100], [8192, 1], [10]]),
            "params": rng.choice([{"nprobe": rng.choice([16, 64, 256, 4096])}, {"ef": rng.choice([64, 128, 512])},
                                  {"search_list": 100}]),
            "topk": rng.choice([10, 10, 100]), "json": rng.random() < 0.3, "new": rng.random() < 0.5,
            "gts": rng.choice([0, 1, 2, 460318735832711168]), "scale": rng.choice([1.0, 1.0, 2.0, 0.6])}


def _templates(rng: random.Random) -> tuple[list[dict[str, object]], list[float]]:
    out = [_template(rng, coll) for coll in COLLECTIONS for _ in range(rng.randint(4, 9))]
    weights = [rng.paretovariate(1.1) for _ in out]  # a few queries dominate, as in real traffic
    return out, weights


def _duration(rng: random.Random) -> float:
    return min(900.0, rng.lognormvariate(1.9, 0.8))


def _go_duration(s: float) -> str:
    if s >= 60:
        m, rest = divmod(s, 60)
        return f"{int(m)}m{rest:.9f}s"
    return f"{s:.9f}s"


def _zap_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _slow_line(rng: random.Random, t: datetime, tpl: dict[str, object]) -> str:
    if rng.random() < 0.03:  # ad-hoc requests: a long tail of rare shapes (MISC), some very slow (outliers)
        tpl = _template(rng, rng.choice(COLLECTIONS))
        tpl["scale"] = rng.choice([1.0, 1.0, 30.0])
    coll, kind = str(tpl["coll"]), tpl["kind"]
    dur = min(3000.0, _duration(rng) * float(tpl["scale"]))  # type: ignore[arg-type]
    nq = rng.choice(tpl["nq"])  # type: ignore[arg-type]
    topk = tpl["topk"]
    sp = [{"key": "topk", "value": str(topk)}, {"key": "params", "value": json.dumps(tpl["params"])},
          {"key": "round_decimal", "value": "-1"}, {"key": "ignore_growing", "value": "False"},
          {"key": "metric_type", "value": "L2"}, {"key": "anns_field", "value": "vec"}]
    dsl = _filter(rng, int(tpl["pick"]), str(tpl["f1"]), str(tpl["f2"]))  # type: ignore[call-overload]
    new = bool(tpl["new"])  # 2.5/2.6 field set vs 2.3
    if tpl["json"]:  # JSON layout
        obj: dict[str, object] = {"level": "INFO", "time": _ts(t), "caller": "proxy/impl.go:3141"}
        if kind == "query":
            obj.update({"message": "Query slow", "traceID": _trace(rng), "role": "proxy", "db": "default",
                        "collection": coll, "partitions": [], "ConsistencyLevel": "Bounded",
                        "useDefaultConsistency": True, "expr": dsl, "OutputFields": ["id"],
                        "travel_timestamp": 0, "guarantee_timestamp": 464912345678901250,
                        "duration": _go_duration(dur)})
        else:
            obj.update({"message": "Search slow", "traceID": _trace(rng), "role": "proxy", "db": "default",
                        "collection": coll, "partitions": [], "dsl": dsl, "len(PlaceholderGroup)": 524 * nq,
                        "OutputFields": ["id", "color"], "search_params": sp, "ConsistencyLevel": "Strong",
                        "useDefaultConsistency": True, "guarantee_timestamp": 460318735832711168, "nq": nq,
                        "duration": _go_duration(dur), "durationPerNq": _go_duration(dur / nq)})
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))  # zap writes no spaces
    head = f"[{_ts(t)}] [INFO] [proxy/impl.go:{3141 if new else 2578}]"
    common = (f"[traceID={_trace(rng)}] [role=proxy] [db=default] [collection={coll}] [partitions=\"[]\"]")
    if kind == "query":
        return (f"{head} [\"Query slow\"] {common} [expr={_zap_quote(dsl) if dsl else ''}] "
                f"[OutputFields=\"[*]\"] [travel_timestamp=0] [guarantee_timestamp=0] [duration={_go_duration(dur)}]")
    if kind == "hybrid":
        other = _filter(rng, (int(tpl["pick"]) + 1) % _PICKS, str(tpl["f2"]), str(tpl["f1"]))  # type: ignore[call-overload]
        dsls = "".join(f"[No.{i} req, expr: {d}]" for i, d in enumerate([dsl, other]))
        return (f"{head} [\"HybridSearch slow\"] {common} [OutputFields=\"[id]\"] [ConsistencyLevel=Bounded]"
                f" [useDefaultConsistency=true] [dsls={_zap_quote(dsls)}] [guarantee_timestamp=1]"
                f" [totalNq={nq * 2}] [duration={_go_duration(dur)}] [durationPerNq={_go_duration(dur / (nq * 2))}]")
    extra = "[ConsistencyLevel=Strong] [useDefaultConsistency=true] " if new else ""
    per_nq = f" [durationPerNq={_go_duration(dur / nq)}]" if new else ""
    return (f"{head} [\"Search slow\"] {common} [dsl={_zap_quote(dsl) if dsl else ''}] "
            f"[len(PlaceholderGroup)={524 * nq}] [OutputFields=\"[id,color]\"] "
            f"[search_params={_zap_quote(json.dumps(sp, separators=(',', ':')))}] {extra}"
            f"[guarantee_timestamp={tpl['gts']}] [nq={nq}] [duration={_go_duration(dur)}]{per_nq}")


# Ordinary lines: the shapes a Milvus 2.3-2.6 process logs at INFO/WARN all day.
_ORDINARY = [
    '[INFO] [datacoord/compaction_trigger.go:342] ["compaction trigger"] [collectionID={c}] [partitionID={p}] '
    '[channel=by-dev-rootcoord-dml_{n}_{c}v0] [segmentIDs="[{s},{s2}]"]',
    '[INFO] [querycoordv2/observers/target_observer.go:420] ["observer trigger update next target"] '
    '[collectionID={c}]',
    '[INFO] [datanode/flow_graph_insert_buffer_node.go:513] ["insert buffer node handling"] '
    '[channel=by-dev-rootcoord-dml_{n}_{c}v0] [segmentID={s}] [rows={r}] [memorySize={m}]',
    '[INFO] [gc/gc_tuner.go:89] ["GC Tune done"] ["previous GOGC"=200] ["heapuse "={r}] ["total memory"=1509] '
    '["next GC"=420] ["new GOGC"=200] [gc-pause=30.74ms] [gc-pause-end={t}]',
    '[INFO] [querynodev2/segments/segment_loader.go:218] ["load segment done"] [traceID={tr}] '
    '[collectionID={c}] [segmentID={s}] [rowNum={r}] [segmentType=Sealed]',
    '[INFO] [datacoord/index_service.go:741] ["DescribeIndex"] [traceID={tr}] [collectionID={c}] [indexName=]',
    '[INFO] [querycoordv2/dist/dist_handler.go:103] ["pull dist"] [nodeID={n}] [segments={r}] [channels=2]',
    '[INFO] [rootcoord/root_coord.go:1490] ["received request to describe collection"] [traceID={tr}] '
    '[collectionName=products] [dbName=default] [id={c}] [ts={t}] [allowUnavailable=false]',
    '[INFO] [datacoord/services.go:1178] ["DataCoord putting segment to the right DataNode"] '
    '[segmentID={s}] [nodeID={n}]',
    '[INFO] [proxy/impl.go:2551] ["Search done"] [traceID={tr}] [role=proxy] [db=default] [collection=products] '
    '[partitions="[]"] [dsl=] [len(PlaceholderGroup)=524] [OutputFields="[id]"] [guarantee_timestamp=1] [nq=1]',
    '[INFO] [datanode/channel_meta.go:260] ["adding segment"] [type=New] [segmentID={s}] [collectionID={c}] '
    '[partitionID={p}] [channel=by-dev-rootcoord-dml_{n}_{c}v0] [startPosition=<nil>] [endPosition=<nil>] '
    '[recoverTs=0] [importing=false]',
    '[WARN] [server/rocksmq_impl.go:670] ["rocksmq produce too slowly"] [topic=by-dev-rootcoord-dml_{n}] '
    '["msg size"={r}] ["produce total elapse"=284]',
    '[WARN] [rootcoord/timeticksync.go:313] ["rootcoord send tt to all channels too slowly"] [chanNum=4] [span=333]',
    '[INFO] [querynodev2/services.go:707] ["received search request"] [traceID={tr}] [collectionID={c}] '
    '[channel=by-dev-rootcoord-dml_{n}_{c}v0] [nq=1] [topK=10]',
]
_ORDINARY_WEIGHTS = [10, 10, 14, 2, 10, 8, 10, 8, 8, 6, 8, 2, 2, 12]
_GC_SLOW = '[WARN] [gc/gc_tuner.go:99] ["GC Tune done, and the gc is slow"] ["previous GOGC"=200] ["heapuse "=393]'


def generate(path: Path, size_mb: int) -> None:
    rng = random.Random(SEED)
    target = size_mb * 1024 * 1024
    t = datetime(2026, 11, 24, 0, 0, 0, tzinfo=UTC)
    step = timedelta(milliseconds=3)
    tmp = path.with_suffix(".tmp")
    templates, weights = _templates(rng)
    written = 0
    with open(tmp, "w", encoding="utf-8") as f:
        while written < target:
            batch = []
            for _ in range(20000):
                t += step
                u = rng.random()
                if u < SLOW_FRACTION:
                    batch.append(_slow_line(rng, t, rng.choices(templates, weights)[0]))
                elif u < SLOW_FRACTION + 0.0005:
                    batch.append(f"[{_ts(t)}] {_GC_SLOW}")
                else:
                    tpl = rng.choices(_ORDINARY, _ORDINARY_WEIGHTS)[0]
                    c = 446000000000000000 + rng.randrange(8)
                    batch.append(f"[{_ts(t)}] " + tpl.format(
                        c=c, p=c + 1, n=rng.randrange(4), s=446000000000100000 + rng.randrange(10**6),
                        s2=446000000000100000 + rng.randrange(10**6), r=rng.randrange(1, 200000),
                        m=rng.randrange(10**8), t=460318735832711168 + rng.randrange(10**9), tr=_trace(rng)))
            text = "\n".join(batch) + "\n"
            f.write(text)
            written += len(text.encode("utf-8"))
    tmp.replace(path)


# --------------------------------------------------------------------------- measuring


def child(path: str, jobs: int) -> None:
    """Runs in the child process: the CLI's file path, timed without interpreter start-up."""
    sys.path.insert(0, str(ROOT))
    from bot.digest import DigestBuilder
    from bot.digest.files import digest_files
    from bot.digest.report import render_text

    t0 = time.perf_counter()
    builder = DigestBuilder()
    stats, malformed = digest_files([path], None, None, builder, jobs=jobs)
    digest = builder.finish()
    report = render_text(digest)
    t1 = time.perf_counter()
    print(json.dumps({"seconds": t1 - t0, "lines": stats.lines, "candidates": stats.candidates,
                      "slow": digest.total_count, "shapes": digest.shape_count, "malformed": malformed,
                      "report_chars": len(report), "top": digest.shapes[0].filter_shape if digest.shapes else ""}))


def run_child(args: list[str]) -> tuple[float, int, str, float]:
    """(wall seconds, peak RSS in KiB, stdout, CPU seconds) of a child process (and its children)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(args)}")
    return wall, usage.ru_maxrss, out, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="log size in MiB (default 1024)")
    ap.add_argument("--runs", type=int, default=2, help="runs of each measurement; the best is kept")
    ap.add_argument("--jobs", type=int, default=0,
                    help="digest worker processes (default: 1, then also the CLI's auto choice if it differs)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, max(1, args.jobs))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"milvus-{args.size_mb}mb.log"
    if not path.exists():
        t0 = time.perf_counter()
        print(f"generating {path} ({args.size_mb} MiB) ...", flush=True)
        generate(path, args.size_mb)
        print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    size = path.stat().st_size
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache

    grep_best = grep_cpu = float("inf")
    grep_count = ""
    for _ in range(args.runs):
        wall, _rss, out, cpu = run_child(["bash", "-c", f"grep -F 'slow' '{path}' | wc -l"])
        grep_best, grep_count, grep_cpu = min(grep_best, wall), out.strip(), min(grep_cpu, cpu)
    mb = size / 1e6
    print(f"file: {path} ({mb:,.0f} MB)")
    print(f"grep -F 'slow' | wc -l : {grep_best:6.2f} s  {mb / grep_best:8,.0f} MB/s  (matched {grep_count} lines;"
          f" CPU {grep_cpu:.2f} s)")
    sys.path.insert(0, str(ROOT))
    from bot.digest.files import resolve_jobs

    job_counts = [args.jobs] if args.jobs else sorted({1, 2, resolve_jobs("auto", [str(path)])})
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; --jobs auto would use"
          f" {resolve_jobs('auto', [str(path)])}")
    ratios: dict[int, float] = {}
    for jobs in job_counts:
        best_wall, best_inner, best_cpu, peak_rss, info = float("inf"), float("inf"), float("inf"), 0, {}
        for _ in range(args.runs):
            wall, rss, out, cpu = run_child([sys.executable, __file__, "--child", str(path), "--jobs", str(jobs)])
            info = json.loads(out)
            best_wall, best_inner = min(best_wall, wall), min(best_inner, info["seconds"])
            best_cpu = min(best_cpu, cpu)
            peak_rss = max(peak_rss, rss)
        print(f"--- digest with {jobs} process(es): {info['lines']:,} lines, {info['slow']:,} slow requests,"
              f" {info['shapes']:,} shapes, {info['candidates']:,} candidate lines, {info['malformed']} malformed")
        print(f"digest (wall, child)   : {best_wall:6.2f} s  {mb / best_wall:8,.0f} MB/s"
              f"  {info['lines'] / best_wall:12,.0f} lines/s")
        print(f"digest (in-process)    : {best_inner:6.2f} s  {mb / best_inner:8,.0f} MB/s"
              f"  {info['lines'] / best_inner:12,.0f} lines/s")
        ratio = ratios[jobs] = grep_best / best_wall
        print(f"ratio digest/grep      : {ratio:.2f} of grep's throughput (target >= 0.33)"
              f"  {'OK' if ratio >= 1 / 3 else 'BELOW TARGET'}")
        print(f"CPU time (all procs)   : {best_cpu:6.2f} s, {grep_cpu / best_cpu:.2f} of grep's CPU-time throughput"
              " (less sensitive to a busy machine than wall time)")
        print(f"peak RSS (child)       : {peak_rss / 1024:,.0f} MB (largest single process; target < 200 MB)"
              f"  {'OK' if peak_rss / 1024 < 200 else 'ABOVE TARGET'}")
    from bot.slowlog.accel import speedups

    met = [j for j, r in sorted(ratios.items()) if r >= 1 / 3]
    print(f"compiled hot paths     : {'on' if speedups is not None else 'OFF (pure Python)'}")
    print("verdict                : " + (f"throughput target met with {met[0]} process(es)" if met else
                                       "throughput target NOT met") +
          "; " + ", ".join(f"{j} process(es) {r:.2f}x grep" for j, r in sorted(ratios.items())))


if __name__ == "__main__":
    main()
