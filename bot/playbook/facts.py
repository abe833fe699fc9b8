"""The fact layer: Evidence -> the named facts and scope items that rules test and templates print.

Every fact listed in playbooks/facts.yaml is computed here (a test checks the two agree). A value of
None means "unavailable", and `why()` says why, so a rule on it reports "could not check" rather
than guessing. Text that came from logs or Milvus stays raw here; renderers escape it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from bot.format import format_ratio_x, format_value
from bot.models import CollectionFacts, Evidence, SignalValue, SlowRequest, TriageRequest
from bot.playbook.model import Playbooks, Ref
from bot.playbook.templating import FactView
from bot.playbook.versions import format_version, in_range, parse_version

# A private-use character could smuggle renderer markup; it never belongs in log text.
_CONTROL_PRIVATE = re.compile("[\ue000-\uf8ff]")
_SCALAR_SKIP_TYPES = {"JSON", "FLOAT_VECTOR", "BINARY_VECTOR", "FLOAT16_VECTOR", "BFLOAT16_VECTOR",
                      "SPARSE_FLOAT_VECTOR", "INT8_VECTOR", "UNKNOWN", "NONE"}
_IVF_TYPES = {"IVF_FLAT", "IVF_SQ8", "IVF_PQ", "IVF_RABITQ", "GPU_IVF_FLAT", "GPU_IVF_PQ", "SCANN", "BIN_IVF_FLAT"}


def _clean(text: Any) -> str:
    return "" if text is None else _CONTROL_PRIVATE.sub("", str(text))


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


@dataclass
class ScopeItem:
    facts: dict[str, Any]  # attr -> value (None = unavailable)
    reasons: dict[str, str] = field(default_factory=dict)  # attr -> why unavailable
    when: Any = None  # an extra condition carried by the item (regressions)
    collection: str | None = None  # for Finding.collection


@dataclass
class FactContext:
    evidence: Evidence
    playbooks: Playbooks
    thresholds: dict[str, float]
    globals: dict[str, Any]  # "slowlog.max_nq" -> value
    reasons: dict[str, str]  # fact name or namespace -> why unavailable
    scopes: dict[str, list[ScopeItem]]
    scope_unavailable: dict[str, str]  # scope -> why it has no items to offer
    signal_default_reason: str
    version: tuple[int, int, int] | None
    notes: list[str] = field(default_factory=list)  # said under "could not check" (e.g. which version was used)

    # ------------------------------------------------------------------ lookups
    def signal(self, name: str, of: str = "value") -> tuple[float | None, str | None]:
        sv = self.evidence.signals.get(name)
        if sv is None:
            return None, self.signal_default_reason
        value = _num(sv.value)
        if of == "value":
            return (value, None) if value is not None else (None, _why_signal(sv))
        baseline = _num(sv.baseline)
        if of == "baseline":
            return (baseline, None) if baseline is not None else (None, sv.baseline_unavailable or "no baseline")
        if value is None:
            return None, _why_signal(sv)
        if baseline is None:
            return None, f"no baseline ({sv.baseline_unavailable or 'no data a day earlier'})"
        if baseline == 0:
            return None, "baseline is 0"
        return value / baseline, None

    def fact(self, name: str, item: ScopeItem | None) -> tuple[Any, str | None]:
        ns, attr = name.split(".", 1)
        if ns in self.playbooks.scopes:
            if item is None:
                return None, self.scope_unavailable.get(ns, f"no {ns} in scope")
            v = item.facts.get(attr)
            return (v, None) if v is not None else (None, item.reasons.get(attr, "unavailable"))
        v = self.globals.get(name)
        if v is not None:
            return v, None
        return None, self.reasons.get(name) or self.reasons.get(ns) or "unavailable"

    def resolver(self, item: ScopeItem | None) -> _Resolver:
        return _Resolver(self, item)

    def feature(self, name: str) -> bool | None:
        first = self.playbooks.features.get(name)
        if first is None:
            raise KeyError(f"unknown feature {name!r}")
        if self.version is None:
            return None
        fv = parse_version(first)
        return fv is not None and self.version >= fv

    def version_at_least(self, text: str) -> bool | None:
        v = parse_version(text)
        if self.version is None or v is None:
            return None
        return self.version >= v

    # ------------------------------------------------------------------ template context
    def template_context(self, scope: str | None = None, item: ScopeItem | None = None) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "signals": SignalsView(self),
            "th": FactView(dict(self.thresholds)),
            "collections": [FactView(i.facts) for i in self.scopes.get("collection", [])],
            "shapes": [FactView(i.facts) for i in self.scopes.get("shape", [])],
            "feature": self.feature,
            "version_at_least": self.version_at_least,
        }
        nested: dict[str, dict[str, Any]] = {}
        for name, value in self.globals.items():
            ns, attr = name.split(".", 1)
            nested.setdefault(ns, {})[attr] = value
        for ns in ("cluster", "milvus", "request", "window", "slowlog"):
            ctx[ns] = FactView(nested.get(ns, {}))
        if scope and item is not None:
            ctx[scope] = FactView(item.facts)
        return ctx


class _Resolver:
    def __init__(self, ctx: FactContext, item: ScopeItem | None) -> None:
        self.ctx, self.item = ctx, item

    def get(self, ref: Ref) -> tuple[Any, str | None]:
        if ref.kind == "signal":
            return self.ctx.signal(ref.name, ref.of)
        return self.ctx.fact(ref.name, self.item)

    def threshold(self, name: str) -> float:
        return self.ctx.thresholds[name]


def _why_signal(sv: SignalValue) -> str:
    why = sv.unavailable or "no data"
    return why[len("unavailable: "):] if why.lower().startswith("unavailable: ") else why


class SignalView:
    """One signal for templates: value, baseline, ratio, and ready-made text."""

    def __init__(self, name: str, title: str, unit: str, sv: SignalValue | None, default_reason: str) -> None:
        self.name, self.title, self.unit = name, title, unit
        self.value = _num(sv.value) if sv else None
        self.baseline = _num(sv.baseline) if sv else None
        self.available = self.value is not None
        self.reason = (_why_signal(sv) if sv else default_reason) if not self.available else ""
        self.variant = sv.variant if sv else None
        self.by = dict(sv.by) if sv else {}
        self.ratio = (self.value / self.baseline) if (self.value is not None and self.baseline) else None

    @property
    def text(self) -> str:
        return format_value(self.value, self.unit) if self.available else "n/a"

    @property
    def baseline_text(self) -> str:
        return format_value(self.baseline, self.unit)

    @property
    def ratio_text(self) -> str:
        return format_ratio_x(self.ratio) if self.ratio is not None else "n/a"

    @property
    def vs_usual(self) -> str:
        """'3.90 s (usual 1.0 ms, 3900x)' or just the value when there is no baseline."""
        if not self.available:
            return f"n/a ({self.reason})"
        if self.baseline is None:
            return self.text
        if self.ratio is None:
            return f"{self.text} (usual {self.baseline_text})"
        return f"{self.text} (usual {self.baseline_text}, {self.ratio_text})"

    def __str__(self) -> str:
        return self.text


class SignalsView:
    def __init__(self, ctx: FactContext) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> SignalView:
        if name.startswith("_") or name not in self._ctx.playbooks.signals:
            raise AttributeError(name)
        return SignalView(name, self._ctx.playbooks.signal_titles.get(name, name), self._ctx.playbooks.signals[name],
                          self._ctx.evidence.signals.get(name), self._ctx.signal_default_reason)

    def __getitem__(self, name: str) -> SignalView:
        try:
            return self.__getattr__(name)
        except AttributeError:
            raise KeyError(name) from None


# =========================================================================== building


def build_facts(evidence: Evidence, playbooks: Playbooks, thresholds: dict[str, float],
                request: TriageRequest | None = None, fallback_version: str | None = None) -> FactContext:
    """`fallback_version` (the cluster's configured milvus_version) is used when the reported version
    names no Milvus release, e.g. Milvus Lite's "milvus_lite-3.2.2"."""
    g: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    missing_by_source: dict[str, str] = {}
    for m in evidence.missing:
        missing_by_source.setdefault(m.source, f"{m.what}: {m.reason}")

    version = parse_version(evidence.milvus_version)
    notes: list[str] = []
    if version is None and parse_version(fallback_version) is not None:
        version = parse_version(fallback_version)
        if evidence.milvus_version:
            notes.append(f"Milvus version: the server reports {evidence.milvus_version!r}, which names no Milvus "
                         f"release; the rules used {fallback_version} from clusters.yaml")
    g["cluster.name"] = evidence.cluster
    g["milvus.version"] = format_version(version) if version else None
    g["milvus.version_raw"] = evidence.milvus_version
    if version is None:
        why = ("Milvus version unknown: no milvus_build_info, no pymilvus answer and no milvus_version in the config"
               if not evidence.milvus_version else f"{evidence.milvus_version!r} is not a Milvus server version")
        reasons["milvus.version"] = why
        reasons["milvus.version_raw"] = why
    asked = request.collection if request is not None else evidence.collection
    g["request.collection"] = asked or ""
    g["request.trigger"] = request.trigger if request is not None else "cli"
    reported = getattr(request, "reported_latency_ms", None) if request is not None else None
    g["request.reported_latency_ms"] = float(reported) if reported else 0.0
    g["window.seconds"] = evidence.window.seconds
    g["window.label"] = evidence.window.label

    milvus = evidence.milvus
    collections = list(milvus.collections) if milvus else []
    if asked:
        collections = [c for c in collections if c.name == asked]
    if milvus is None:
        reasons["milvus"] = missing_by_source.get("milvus", "no Milvus connection configured")
        for k in ("collection_count", "strong_collections", "loaded_collections"):
            g[f"milvus.{k}"] = None
    else:
        g["milvus.collection_count"] = len(collections)
        g["milvus.strong_collections"] = [c.name for c in collections if (c.consistency_level or "") == "Strong"]
        g["milvus.loaded_collections"] = [c.name for c in collections if c.load_state == "Loaded"]

    digest = evidence.slowlog.digest if evidence.slowlog is not None else None
    shapes_raw = _digest_shapes(digest, asked)
    slow_reason = missing_by_source.get("slowlog", "no log source configured")
    _slowlog_facts(g, reasons, evidence, asked, shapes_raw, slow_reason)

    ctx = FactContext(
        evidence=evidence, playbooks=playbooks, thresholds=thresholds, globals=g, reasons=reasons, scopes={},
        scope_unavailable={}, version=version,
        signal_default_reason=(f"not collected ({missing_by_source['metrics']})" if "metrics" in missing_by_source
                               else "not collected"),
        notes=notes,
    )
    slow_collections = set(g.get("slowlog.collections") or [])
    loaded = [c for c in collections if c.load_state == "Loaded"]
    coll_items = [_collection_item(c, asked, slow_collections, len(loaded), playbooks, version) for c in collections]
    if milvus is None:
        ctx.scope_unavailable["collection"] = reasons["milvus"]
    ctx.scopes["collection"] = coll_items
    by_name = {c.name: c for c in milvus.collections} if milvus is not None else {}

    if evidence.slowlog is None:
        ctx.scope_unavailable["shape"] = slow_reason
        ctx.scope_unavailable["json"] = slow_reason
        ctx.scope_unavailable["field"] = slow_reason
        ctx.scopes.update(shape=[], json=[], field=[])
    elif digest is None:
        why = "slow-log digest not computed"
        ctx.scope_unavailable.update(shape=why, json=why, field=why)
        ctx.scopes.update(shape=[], json=[], field=[])
    else:
        ctx.scopes["shape"] = [_shape_item(s, by_name.get(s.collection or ""), milvus is not None) for s in shapes_raw]
        ctx.scopes["json"] = _json_items(shapes_raw, ctx)
        if milvus is None:
            ctx.scope_unavailable["field"] = reasons["milvus"]
            ctx.scopes["field"] = []
        else:
            ctx.scopes["field"] = _field_items(shapes_raw, by_name, ctx, playbooks)

    if version is None:
        ctx.scope_unavailable["regression"] = reasons["milvus.version"]
        ctx.scopes["regression"] = []
    else:
        ctx.scopes["regression"] = [
            ScopeItem(facts={"id": r.id, "title": r.title, "versions": r.versions, "note": r.note, "fix": r.fix,
                             "links": list(r.links)}, when=r.when)
            for r in playbooks.regressions if in_range(version, r.versions)
        ]
    return ctx


# --------------------------------------------------------------------------- slow log


def _digest_shapes(digest: Any, asked: str | None) -> list[Any]:
    if digest is None:
        return []
    shapes = list(getattr(digest, "shapes", []) or []) + list(getattr(digest, "outliers", []) or [])
    seen: set[str] = set()
    out = []
    for s in shapes:
        if s.fingerprint in seen:
            continue
        seen.add(s.fingerprint)
        if asked and s.collection and s.collection != asked:
            continue
        out.append(s)
    return out


def _per_nq(r: SlowRequest) -> float | None:
    if r.duration_per_nq_s is not None:
        return r.duration_per_nq_s
    if r.nq:
        return r.duration_s / r.nq
    return None


def _slowlog_facts(g: dict[str, Any], reasons: dict[str, str], evidence: Evidence, asked: str | None,
                   shapes: list[Any], slow_reason: str) -> None:
    keys = ("count", "sampled", "threshold_s", "max_nq", "max_nq_duration_s", "max_nq_duration_per_nq_s",
            "max_nq_count", "max_nq_collection", "nq1_count", "nq1_max_duration_s", "max_duration_s", "strong_count", "shape_count",
            "max_or_chain", "max_topk", "json_filter_count", "collections", "first_seen")
    sl = evidence.slowlog
    if sl is None:
        for k in keys:
            g[f"slowlog.{k}"] = None
        reasons["slowlog"] = slow_reason
        return
    reqs = [r for r in sl.requests if not asked or not r.collection or r.collection == asked]
    searches = [r for r in reqs if r.kind in ("search", "hybrid_search")]
    g["slowlog.count"] = float(sl.slow_lines)
    g["slowlog.sampled"] = float(len(reqs))
    g["slowlog.threshold_s"] = sl.threshold_s
    if sl.threshold_s is None:
        reasons["slowlog.threshold_s"] = "slow-log threshold unknown for this version"
    nqs = [(r.nq or 0) for r in searches]
    shape_nq = [int(s.max_nq or 0) for s in shapes]
    max_nq = max(nqs + shape_nq + [0])
    g["slowlog.max_nq"] = float(max_nq)
    big = [r for r in searches if (r.nq or 0) == max_nq and max_nq > 0]
    if big:
        worst = max(big, key=lambda r: r.duration_s)
        g["slowlog.max_nq_duration_s"] = worst.duration_s
        g["slowlog.max_nq_duration_per_nq_s"] = _per_nq(worst)
        g["slowlog.max_nq_collection"] = _clean(worst.collection)
    else:
        top = max((s for s in shapes if int(s.max_nq or 0) == max_nq and max_nq > 0), key=lambda s: s.max_s,
                  default=None)
        g["slowlog.max_nq_duration_s"] = top.max_s if top else 0.0
        g["slowlog.max_nq_duration_per_nq_s"] = (top.max_s / max_nq) if top else 0.0
        g["slowlog.max_nq_collection"] = _clean(top.collection) if top else ""
    g["slowlog.max_nq_count"] = float(len(big))
    nq1 = [r for r in searches if r.nq == 1]
    g["slowlog.nq1_count"] = float(len(nq1))
    g["slowlog.nq1_max_duration_s"] = max((r.duration_s for r in nq1), default=0.0)
    g["slowlog.max_duration_s"] = max([r.duration_s for r in reqs] + [float(s.max_s) for s in shapes] + [0.0])
    g["slowlog.strong_count"] = float(sum(1 for r in reqs if (r.consistency_level or "") == "Strong"))
    digest = sl.digest
    g["slowlog.shape_count"] = float(getattr(digest, "shape_count", 0) or len(shapes)) if digest is not None else \
        float(len({(r.collection, r.dsl, r.nq) for r in reqs}))
    chains = [max(s.analysis.or_chains.values(), default=0) for s in shapes if s.analysis is not None]
    g["slowlog.max_or_chain"] = float(max([*chains, 0]))
    g["slowlog.json_filter_count"] = float(sum(s.count for s in shapes if s.analysis is not None and s.analysis.json_paths))
    g["slowlog.max_topk"] = float(max([(r.topk or 0) for r in searches] + [int(s.topk or 0) for s in shapes] + [0]))
    names = {r.collection for r in reqs if r.collection} | {s.collection for s in shapes if s.collection}
    g["slowlog.collections"] = sorted(names)
    times = [r.time for r in reqs if r.time is not None]
    first = getattr(digest, "first_seen", None) or (min(times) if times else None)
    g["slowlog.first_seen"] = first.isoformat() if first else ""


# --------------------------------------------------------------------------- collections


def _vector_index(c: CollectionFacts) -> tuple[Any, Any]:
    vectors = c.vector_fields
    indexed = [f for f in vectors if f.index is not None and f.index.index_type]
    f = indexed[0] if indexed else (vectors[0] if vectors else None)
    return f, (f.index if f is not None and f.index is not None and f.index.index_type else None)


def _param(params: dict[str, Any], *names: str) -> float | None:
    for n in names:
        for k, v in params.items():
            if k.lower() == n.lower():
                return _num(v)
    return None


def suggested_nlist(rows: float | None) -> float | None:
    """IVF nlist ≈ 4·sqrt(rows) (Milvus docs' rule of thumb), rounded to a power of two, 64..65536."""
    if not rows or rows <= 0:
        return None
    target = 4 * math.sqrt(rows)
    power = 2 ** round(math.log2(target))
    return float(min(65536, max(64, power)))


def _collection_item(c: CollectionFacts, asked: str | None, slow: set[str], loaded_count: int,
                     playbooks: Playbooks, version: tuple[int, int, int] | None) -> ScopeItem:
    f, idx = _vector_index(c)
    params = dict(idx.params) if idx else {}
    index_type = (idx.index_type or "").upper() if idx else ""
    facts: dict[str, Any] = {
        "name": _clean(c.name), "id": c.collection_id, "row_count": c.row_count,
        "loaded": (c.load_state == "Loaded") if c.load_state else None, "load_state": c.load_state,
        "consistency_level": c.consistency_level,
        "searched": bool(asked == c.name or c.name in slow or (loaded_count == 1 and c.load_state == "Loaded")),
        "vector_field": _clean(f.name) if f else None, "vector_data_type": f.data_type if f else None,
        "dim": f.dim if f else None, "has_vector_index": idx is not None, "index_type": index_type,
        "metric_type": idx.metric_type if idx else None,
        "index_params": ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("index_type", "metric_type")),
        "index_name": _clean(idx.index_name or "") if idx else "",
        "nlist": _param(params, "nlist"), "m": _param(params, "M"),
        "ef_construction": _param(params, "efConstruction", "ef_construction"),
        "suggested_nlist": suggested_nlist(c.row_count), "mmap_enabled": c.mmap_enabled,
        "scalar_indexes": [f"{_clean(x.name)}: {x.index.index_type}" for x in c.fields
                           if not x.is_vector and x.index is not None and x.index.index_type],
        "unindexed_scalar_fields": [_clean(x.name) for x in c.fields
                                    if not x.is_vector and not x.is_primary and x.index is None
                                    and x.data_type.upper() not in _SCALAR_SKIP_TYPES],
        "index_suggestions": [
            {"field": _clean(x.name), "data_type": x.data_type.upper(), "index_type": t}
            for x in c.fields
            if not x.is_vector and not x.is_primary and x.index is None and x.data_type.upper() not in _SCALAR_SKIP_TYPES
            for t in [scalar_index_for(playbooks, version, x.data_type, x.element_type)] if t
        ],
    }
    reasons: dict[str, str] = {}
    if c.row_count is None:
        reasons["row_count"] = reasons["suggested_nlist"] = f"row count of {c.name} unknown"
    if c.load_state is None:
        reasons["loaded"] = reasons["load_state"] = f"load state of {c.name} unknown"
    if c.consistency_level is None:
        reasons["consistency_level"] = f"consistency level of {c.name} unknown"
    if c.mmap_enabled is None:
        reasons["mmap_enabled"] = f"mmap setting of {c.name} not reported"
    for k, label, family in (("nlist", "nlist", "IVF"), ("m", "M", "HNSW"), ("ef_construction", "efConstruction", "HNSW")):
        if facts[k] is None:
            reasons[k] = (f"{label} of {c.name}'s {index_type} index not reported by the server"
                          if index_type.startswith(family) else f"{c.name} has no {label} ({index_type or 'no vector index'})")
    if f is None:
        for k in ("vector_field", "vector_data_type", "dim"):
            reasons[k] = f"{c.name} has no vector field"
    if idx is None:
        reasons["metric_type"] = f"{c.name} has no vector index"
    seg = c.segments
    seg_keys = {"segments_sealed": "sealed", "segments_growing": "growing",
                "segments_unindexed_sealed": "unindexed_sealed", "segments_small": "small",
                "rows_per_segment_median": "rows_median"}
    for k, attr in seg_keys.items():
        facts[k] = float(getattr(seg, attr)) if seg is not None and getattr(seg, attr) is not None else None
        if facts[k] is None:
            reasons[k] = f"segments of {c.name}: {c.segments_unavailable or 'not reported'}"
    if seg is not None and seg.growing_reported is False:
        # Measured on a real 2.3.5: GetQuerySegmentInfo lists sealed segments only, so "0 growing"
        # would be a guess. The segments_growing metric is the evidence for growing data there.
        facts["segments_growing"] = None
        reasons["segments_growing"] = f"the server does not list growing segments of {c.name} (use the segments_growing metric)"
    if facts["dim"] is None and f is not None:
        reasons["dim"] = f"dimension of {c.name} unknown"
    if facts["id"] is None:
        reasons["id"] = f"id of {c.name} unknown"
    if facts["vector_data_type"] is None and f is not None:
        reasons["vector_data_type"] = "unknown"
    return ScopeItem(facts=facts, reasons=reasons, collection=c.name)


# --------------------------------------------------------------------------- shapes


def _analysis(s: Any) -> Any:
    from bot.digest.model import FilterAnalysis

    return s.analysis if getattr(s, "analysis", None) is not None else FilterAnalysis()


def _rewrite_fallback(a: Any, field_name: str) -> str:
    values = a.or_chain_values.get(field_name) or []
    return f"{field_name} in [{', '.join(values)}]" if values else ""


def _shape_item(s: Any, coll: CollectionFacts | None, milvus_known: bool) -> ScopeItem:
    a = _analysis(s)
    worst: SlowRequest | None = s.worst
    params = dict(worst.search_params) if worst is not None else {}
    or_field, or_max = "", 0
    for fname, n in a.or_chains.items():
        if n > or_max:
            or_field, or_max = fname, n
    _, idx = _vector_index(coll) if coll is not None else (None, None)
    nlist = _param(dict(idx.params), "nlist") if idx else None
    nprobe = _param(params, "nprobe")
    computed_unindexed = _unindexed_in(a, coll)
    facts: dict[str, Any] = {
        "fingerprint": s.fingerprint, "kind": s.kind, "collection": _clean(s.collection), "count": float(s.count),
        "total_s": float(s.total_s), "share": float(s.share), "p50_s": float(s.p50_s), "max_s": float(s.max_s),
        "max_nq": float(s.max_nq or 0), "per_nq_p50_s": s.per_nq_p50_s, "topk": _num(s.topk),
        "consistency_level": s.consistency_level,
        "filter": _clean(worst.dsl if worst is not None else ""), "filter_shape": _clean(s.filter_shape),
        "has_filter": bool((s.filter_shape or "").strip()), "fields": [_clean(f) for f in a.fields],
        "or_chain_max": float(or_max), "or_chain_field": _clean(or_field),
        "or_chain_values": [_clean(v) for v in a.or_chain_values.get(or_field, [])],
        "rewritten": _clean(a.rewritten or _rewrite_fallback(a, or_field)),
        "json_paths": [_clean(p) for p in a.json_paths],
        "unindexed_fields": sorted({*(_clean(f) for f in a.unindexed_fields if f not in a.json_fields and "[" not in f),
                                    *computed_unindexed}),
        "leading_wildcard_like": [_clean(f) for f in a.leading_wildcard_like],
        "nprobe": nprobe, "ef": _param(params, "ef"), "search_list": _param(params, "search_list"),
        "nlist": nlist, "nprobe_to_nlist": (nprobe / nlist) if (nprobe is not None and nlist) else None,
        "index_type": ((idx.index_type or "").upper() if idx else "") if coll is not None else None,
        "anns_field": _clean(worst.anns_field) if worst is not None and worst.anns_field else None,
        "metric_type": s.metric_type, "raw": _clean(worst.raw if worst is not None else ""),
    }
    reasons: dict[str, str] = {}
    for k, label in (("nprobe", "nprobe"), ("ef", "ef"), ("search_list", "search_list")):
        if facts[k] is None:
            reasons[k] = f"no {label} in the logged search params"
    if facts["per_nq_p50_s"] is None:
        reasons["per_nq_p50_s"] = "nq not logged"
    if facts["topk"] is None:
        reasons["topk"] = "topk not logged"
    if facts["consistency_level"] is None:
        reasons["consistency_level"] = "consistency level not logged (Milvus < 2.5) nor inferable"
    if coll is None:
        why = (f"collection {s.collection!r} not described by pymilvus" if milvus_known
               else "no Milvus collection facts")
        reasons["index_type"] = reasons["nlist"] = reasons["nprobe_to_nlist"] = why
    else:
        if nlist is None:
            itype = ((idx.index_type or "") if idx else "").upper()
            reasons["nlist"] = (f"nlist of {coll.name}'s {itype} index not reported by the server" if itype.startswith("IVF")
                                else f"{coll.name} has no IVF nlist ({itype or 'no vector index'})")
        if facts["nprobe_to_nlist"] is None:
            reasons["nprobe_to_nlist"] = reasons.get("nprobe") or reasons.get("nlist") or "unknown"
    if facts["anns_field"] is None:
        reasons["anns_field"] = "anns_field not logged"
    if facts["metric_type"] is None:
        reasons["metric_type"] = "metric type not logged"
    return ScopeItem(facts=facts, reasons=reasons, collection=s.collection)


def _base_field(name: str) -> str:
    return name.split("[", 1)[0].strip()


def _unindexed_in(a: Any, coll: CollectionFacts | None) -> set[str]:
    if coll is None:
        return set()
    out = set()
    for name in a.fields:
        if "[" in name:
            continue
        f = coll.field(_base_field(name))
        if f is None or f.is_vector or f.is_primary or f.index is not None:
            continue
        if f.data_type.upper() in _SCALAR_SKIP_TYPES:
            continue
        out.add(_clean(f.name))
    return out


def scalar_index_for(playbooks: Playbooks, version: tuple[int, int, int] | None, data_type: str,
                     element_type: str | None = None) -> str:
    """An index type that suits the data type and exists in this Milvus version ('' if none)."""
    key = data_type.upper()
    if key == "ARRAY" and element_type:
        key = "ARRAY"
    if version is None:
        return playbooks.scalar_index_unknown_version.get(key, "")
    for spec, types in playbooks.scalar_index_types:
        if in_range(version, spec):
            return types.get(key, "")
    return ""


def _field_items(shapes: list[Any], by_name: dict[str, CollectionFacts], ctx: FactContext,
                 playbooks: Playbooks) -> list[ScopeItem]:
    items: dict[tuple[str, str], ScopeItem] = {}
    slowest: dict[tuple[str, str], float] = {}
    for s in shapes:
        coll = by_name.get(s.collection or "")
        a = _analysis(s)
        names = set(a.unindexed_fields) | _unindexed_in(a, coll)
        for name in sorted(names):
            if "[" in name or name in a.json_fields:
                continue  # JSON keys: the json scope (a path index, or promote the key)
            f = coll.field(_base_field(name)) if coll is not None else None
            if coll is not None and (f is None or f.index is not None or f.data_type.upper() in _SCALAR_SKIP_TYPES):
                continue
            key = (s.collection or "", _base_field(name))
            data_type = f.data_type.upper() if f is not None else ""
            if key not in items:
                suggested = scalar_index_for(playbooks, ctx.version, data_type, f.element_type if f else None)
                items[key] = ScopeItem(
                    facts={"collection": _clean(s.collection), "name": _clean(key[1]), "data_type": data_type or None,
                           "element_type": f.element_type if f is not None else None, "operators": [],
                           "suggested_index": suggested, "alternative_index": "", "alternative_note": "",
                           "shape_count": 0.0,
                           "slow_count": 0.0, "slow_s": 0.0, "example_filter": ""},
                    reasons={"data_type": f"field {key[1]!r} not in the schema of {s.collection!r}",
                             "element_type": "not an ARRAY field"},
                    collection=s.collection)
            it = items[key].facts
            for op in a.fields.get(name, []):
                if op not in it["operators"]:
                    it["operators"].append(op)
            it["shape_count"] += 1
            it["slow_count"] += float(s.count)
            it["slow_s"] += float(s.total_s)
            if s.max_s >= slowest.get(key, -1.0) and s.worst is not None:
                slowest[key] = s.max_s
                it["example_filter"] = _clean(s.worst.dsl)
    for it in items.values():
        alt = _alternative(playbooks, ctx, it.facts)
        if alt is not None:
            it.facts["alternative_index"] = alt["index"]
            it.facts["alternative_note"] = alt["note"].replace("{field}", it.facts["name"])
    return sorted(items.values(), key=lambda i: -i.facts["slow_s"])


def _alternative(playbooks: Playbooks, ctx: FactContext, f: dict[str, Any]) -> dict[str, Any] | None:
    """The first versions.yaml alternative_indexes entry that exists here and fits the type and operators."""
    for alt in playbooks.alternative_indexes:
        if alt["index"] == f["suggested_index"] or not ctx.feature(alt["feature"]):
            continue
        if (f["data_type"] or "") in alt["types"] and alt["operators"] & set(f["operators"]):
            return alt
    return None


# --------------------------------------------------------------------------- JSON paths

_LITERAL_AFTER = r"\s*(?:==|!=|>=|<=|>|<|(?:not\s+)?in)\s*\[?\s*(\"|'|-?\d|true\b|false\b|True\b|False\b)"


def guess_cast_type(path: str, filter_text: str, values: list[str]) -> str:
    """VARCHAR / DOUBLE / BOOL from the literals the filter compares the path with (VARCHAR if unclear)."""
    first = values[0].strip() if values else ""
    if not first:
        m = re.search(re.escape(path) + _LITERAL_AFTER, filter_text)
        first = m.group(1) if m else ""
    if first[:1] in ("'", '"'):
        return "VARCHAR"
    if first.lower() in ("true", "false"):
        return "BOOL"
    if first[:1].isdigit() or first[:1] == "-":
        return "DOUBLE"
    return "VARCHAR"


def _json_items(shapes: list[Any], ctx: FactContext) -> list[ScopeItem]:
    items: dict[tuple[str, str], ScopeItem] = {}
    slowest: dict[tuple[str, str], float] = {}
    supported = ctx.feature("json_path_index") if "json_path_index" in ctx.playbooks.features else None
    for s in shapes:
        a = _analysis(s)
        dsl = s.worst.dsl if s.worst is not None else ""
        for path in a.json_paths:
            key = (s.collection or "", path)
            if key not in items:
                values = a.or_chain_values.get(path, [])
                reasons = {}
                if supported is None:
                    reasons["path_index_supported"] = ctx.reasons.get("milvus.version", "Milvus version unknown")
                jkey = json_key(path)
                items[key] = ScopeItem(
                    facts={"collection": _clean(s.collection), "field": _clean(_base_field(path)), "path": _clean(path),
                           "key": _clean(jkey), "suggested_field": _identifier(f"{_base_field(path)}_{jkey}"),
                           "cast_type": guess_cast_type(path, dsl, values), "path_index_supported": supported,
                           "slow_count": 0.0, "slow_s": 0.0, "example_filter": ""},
                    reasons=reasons, collection=s.collection)
            it = items[key].facts
            it["slow_count"] += float(s.count)
            it["slow_s"] += float(s.total_s)
            if s.max_s >= slowest.get(key, -1.0):
                slowest[key] = s.max_s
                it["example_filter"] = _clean(dsl)
    return sorted(items.values(), key=lambda i: -i.facts["slow_s"])


_KEY = re.compile(r"""\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\d+))\s*\]""")


def json_key(path: str) -> str:
    """'meta["a"]["b"]' -> 'b' (the innermost key; the field name when there is none)."""
    keys = [a or b or c for a, b, c in _KEY.findall(path)]
    return keys[-1] if keys else _base_field(path)


def _identifier(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "field"
    return out if not out[0].isdigit() else f"f_{out}"
