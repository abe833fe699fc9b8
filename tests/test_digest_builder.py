"""DigestBuilder: streaming figures, the quantile sketch's accuracy, histogram buckets, shape keys,
the shape cap and merging."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from bot.digest import DigestBuilder
from bot.digest.settings import load_settings
from bot.digest.sketch import HISTOGRAM_LABELS, LogSketch, histogram_bucket
from bot.models import SlowRequest
from tests.test_digest_helpers import at, nearest_rank, vm_ratio


def req(d: float, t: float = 0.0, **kw: object) -> SlowRequest:
    base = {"kind": "search", "duration_s": d, "time": at(t), "db": "default", "collection": "products",
            "dsl": 'user == "a"', "nq": 1, "topk": 10, "metric_type": "L2", "search_params": {"nprobe": 16}}
    base.update(kw)
    return SlowRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sketch_quantiles_within_one_percent(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(1.5, 1.2) for _ in range(5000)] + [0.0004, 900.0]
    sk = LogSketch(0.01)
    for v in values:
        sk.add(v)
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0):
        exact = nearest_rank(values, q)
        assert sk.quantile(q) == pytest.approx(exact, rel=0.01), q


def test_sketch_collapse_keeps_upper_quantiles() -> None:
    sk = LogSketch(0.01, max_bins=32)
    values = [1.02 ** i for i in range(400)]  # 400 distinct bins, far above the cap
    for v in values:
        sk.add(v)
    assert len(sk.bins) <= 32
    assert sk.quantile(0.95) == pytest.approx(nearest_rank(values, 0.95), rel=0.01)
    assert sk.quantile(1.0) == pytest.approx(max(values), rel=0.01)


def test_histogram_bucket_edges() -> None:
    edges = [(0.0, 0), (0.00999, 0), (0.01, 1), (0.0999, 1), (0.1, 2), (0.999, 2), (1.0, 3), (9.99, 3),
             (10.0, 4), (99.9, 4), (100.0, 5), (3600.0, 5)]
    assert [histogram_bucket(v) for v, _ in edges] == [b for _, b in edges]
    assert len(HISTOGRAM_LABELS) == 6


def test_every_figure_of_one_shape() -> None:
    durations = [0.005, 0.05, 0.5, 5.0, 5.5, 50.0, 500.0, 6.25]
    nqs = [2, 2, 4, 8, 3, 10, 2, 5]  # one NQ bucket, "2-10"
    b = DigestBuilder()
    for i, (d, n) in enumerate(zip(durations, nqs, strict=True)):
        b.add(req(d, t=100 - 10 * i, nq=n))  # out of time order, like interleaved files
    d = b.finish()
    assert d.total_count == 8 and d.shape_count == 1
    s = d.shapes[0]
    assert s.count == 8
    assert s.total_s == pytest.approx(sum(durations))
    assert s.share == pytest.approx(1.0)
    assert s.max_s == 500.0 and s.min_s == 0.005
    assert s.p50_s == pytest.approx(nearest_rank(durations, 0.5), rel=0.01)
    assert s.p95_s == pytest.approx(nearest_rank(durations, 0.95), rel=0.01)
    per_nq = [x / n for x, n in zip(durations, nqs, strict=True)]
    assert s.per_nq_p50_s == pytest.approx(nearest_rank(per_nq, 0.5), rel=0.01)
    assert s.max_nq == 10 and s.nq_bucket == "2-10"
    assert s.vm_ratio == pytest.approx(vm_ratio(durations))
    assert s.histogram == [1, 1, 1, 3, 1, 1]
    assert d.histogram == s.histogram
    assert s.first_seen == at(30) and s.last_seen == at(100)
    assert s.worst is not None and s.worst.duration_s == 500.0


def test_nq_buckets_split_shapes() -> None:
    b = DigestBuilder()
    for n in (1, 2, 10, 11, 100, 101, 1000, 1001, 8192, None):
        b.add(req(5.0, nq=n))
    counts = {s.nq_bucket: s.count for s in b.finish().shapes}
    assert counts == {"1": 1, "2-10": 2, "11-100": 2, "101-1000": 2, "1001+": 2, "-": 1}


def test_duration_per_nq_logged_wins_over_division() -> None:
    b = DigestBuilder()
    b.add(req(8.0, nq=4, duration_per_nq_s=1.5))  # 2.6 logs durationPerNq itself
    s = b.finish().shapes[0]
    assert s.per_nq_p50_s == 1.5


def test_params_consistency_and_output_fields_in_the_key() -> None:
    b = DigestBuilder()
    b.add(req(5.0, search_params={"nprobe": 16}))
    b.add(req(5.0, search_params={"nprobe": "12"}))  # same bucket, string or int
    b.add(req(5.0, search_params={"nprobe": 17}))
    b.add(req(5.0, search_params={"nprobe": 16, "radius": 0.4}))
    b.add(req(5.0, search_params={"nprobe": 16, "radius": 0.9}))  # radius: presence only
    b.add(req(5.0, consistency_level="Bounded"))
    b.add(req(5.0, guarantee_timestamp=0))
    b.add(req(5.0, guarantee_timestamp=460318735832711168))
    b.add(req(5.0, guarantee_timestamp=460318735832711169))
    b.add(req(5.0, output_fields=["id", "color"]))
    b.add(req(5.0, partitions=["p2", "p1"]))
    b.add(req(5.0, partitions=["p1", "p2"]))
    d = b.finish()
    counts = {(tuple(sorted(s.params_bucket.items())), s.consistency_level, s.output_field_count,
               tuple(s.partitions)): s.count for s in d.shapes}
    labels = load_settings().guarantee_ts_labels
    assert counts == {
        ((("nprobe", "1-16"),), None, 0, ()): 2,
        ((("nprobe", "17-64"),), None, 0, ()): 1,
        ((("nprobe", "1-16"), ("radius", "set")), None, 0, ()): 2,
        ((("nprobe", "1-16"),), "Bounded", 0, ()): 1,
        ((("nprobe", "1-16"),), labels["0"], 0, ()): 1,
        ((("nprobe", "1-16"),), labels["tso"], 0, ()): 2,
        ((("nprobe", "1-16"),), None, 2, ()): 1,
        ((("nprobe", "1-16"),), None, 0, ("p1", "p2")): 2,
    }


def test_shape_ids_are_stable_and_distinct() -> None:
    def ids() -> list[str]:
        b = DigestBuilder()
        b.add(req(5.0))
        b.add(req(6.0, collection="docs"))
        return [s.fingerprint for s in b.finish().shapes]

    first = ids()
    assert first == ids()
    assert len(set(first)) == 2
    assert all(i.startswith("0x") and len(i) == 14 for i in first)


def test_shape_cap_folds_the_excess_into_misc() -> None:
    b = DigestBuilder(top=2, max_shapes=3)
    for i in range(6):
        b.add(req(10.0 + i, collection=f"c{i}"))
        b.add(req(1.0, collection=f"c{i}"))  # known shapes keep counting, new ones overflow
    d = b.finish()
    assert d.shape_count == 3 and d.max_shapes == 3
    assert d.overflow_count == 6  # c3, c4, c5: two requests each
    assert d.total_count == 12
    assert [s.collection for s in d.shapes] == ["c2", "c1"]
    assert d.other is not None
    assert d.other.count == 2 + 6 and d.other.shape_count == 1  # c0 (a ranked shape) + the overflow bucket
    assert d.other.total_s == pytest.approx((10 + 1) + (13 + 1) + (14 + 1) + (15 + 1))


def test_merge_equals_one_stream() -> None:
    rng = random.Random(7)
    reqs = [req(rng.uniform(5, 50), t=i, collection=rng.choice("abc"), nq=rng.choice([1, 50]))
            for i in range(300)]
    one = DigestBuilder()
    for r in reqs:
        one.add(r)
    left, right = DigestBuilder(), DigestBuilder()
    for r in reqs[:137]:
        left.add(r)
    for r in reqs[137:]:
        right.add(r)
    left.merge(right)
    a, b = one.finish(), left.finish()
    assert [(s.fingerprint, s.count, s.max_s, s.p50_s, s.p95_s, s.first_seen, s.last_seen, s.histogram)
            for s in a.shapes] == [(s.fingerprint, s.count, s.max_s, s.p50_s, s.p95_s, s.first_seen, s.last_seen,
                                    s.histogram) for s in b.shapes]
    for x, y in zip(a.shapes, b.shapes, strict=True):
        assert x.vm_ratio == pytest.approx(y.vm_ratio)
        assert x.total_s == pytest.approx(y.total_s)


def test_finish_is_repeatable_and_empty_digest() -> None:
    empty = DigestBuilder().finish()
    assert (empty.total_count, empty.shapes, empty.other, empty.outliers) == (0, [], None, [])
    b = DigestBuilder()
    b.add(req(5.0))
    assert b.finish().shapes[0].count == b.finish().shapes[0].count == 1


def test_hybrid_search_shape_uses_each_sub_filter() -> None:
    b = DigestBuilder()
    b.add(req(5.0, kind="hybrid_search", dsls=['a == "x"', "b in [1, 2]"], dsl='a == "x" ||| b in [1, 2]'))
    b.add(req(6.0, kind="hybrid_search", dsls=['a == "y"', "b in [3]"], dsl='a == "y" ||| b in [3]'))
    d = b.finish()
    assert [(s.filter_shape, s.count) for s in d.shapes] == [("a == ? ||| b in [?+]", 2)]


def test_outlier_rule_from_settings() -> None:
    settings = load_settings()
    rule = replace(settings.outliers, max_count=1, p95_factor=3.0, max_s=1e9)
    b = DigestBuilder(top=1, settings=replace(settings, outliers=rule))
    for i in range(10):
        b.add(req(6.0, t=i))  # the big shape
    for name in ("x1", "x2", "x3"):
        b.add(req(5.0, collection=name))  # rare, not slow
    b.add(req(20.0, collection="y"))  # rare and >= 3x the median p95 (5.5)
    b.add(req(25.0, collection="z"))
    b.add(req(25.0, collection="z"))  # slow but not rare (2 calls > max_count 1)
    d = b.finish()
    assert [s.collection for s in d.outliers] == ["y"]
    assert d.other is not None and d.other.count == 5 and d.other.shape_count == 4


def test_damaged_durations_are_dropped_not_averaged() -> None:
    b = DigestBuilder()
    for d in (float("nan"), float("inf"), -1.0, 5.0):
        b.add(req(d))
    d = b.finish()
    assert (d.total_count, d.total_s, b.invalid) == (1, 5.0, 3)
