"""The metrics source: every signal of playbooks/signals.yaml, read from Prometheus.

collect_signals(cluster, window, collection) -> (signals by name, missing)

* One thread-pool task per signal; inside it, the variants are tried in order (first with data
  wins), then the baseline (same window one day earlier), then the chart series.
* Every HTTP query has its own wall-clock deadline (prometheus.timeout_s): it runs in its own
  daemon thread and the caller stops waiting at the deadline, so a stalled server cannot hold a
  diagnosis past it. Prometheus also gets `timeout=` so it gives up on its side.
* Nothing raises: a failed, empty or timed-out query becomes SignalValue(value=None,
  unavailable="unavailable: <reason>"). If Prometheus is unreachable there is one
  Missing(source="metrics", what="Prometheus") and every signal is unavailable.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from bot.config import ClusterConfig, PrometheusConfig
from bot.evidence.promql import PromQLError, render
from bot.evidence.signals import SignalDef, Variant, load_signals
from bot.models import Missing, SignalValue, TimeWindow
from bot.slowlog.sources import redact_url  # the one user:password remover for http(s) URLs

log = logging.getLogger(__name__)

BASELINE_OFFSET = timedelta(days=1)
MAX_SERIES_POINTS = 120  # per chart series; the step grows with the window
MIN_STEP_S = 15.0
DEFAULT_CONCURRENCY = 8
# Below gather_evidence's 60 s source budget, so a slow Prometheus still yields the signals it did answer.
DEFAULT_BUDGET_S = 45.0


# --------------------------------------------------------------------------- query plumbing


class QueryTimeout(Exception):
    pass


class PrometheusDown(Exception):
    """Prometheus cannot be reached (connection refused, DNS, TLS, ...)."""


class QueryFailed(Exception):
    """Prometheus answered with an error (bad query, 4xx/5xx, unreadable body)."""


def _short(e: BaseException, limit: int = 200) -> str:
    text = str(e) or type(e).__name__
    # requests errors embed the full URL with the query; keep only the gist.
    for marker in (" (Caused by ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1].rstrip(")")
            break
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _Client:
    """PrometheusConnect plus a hard per-query deadline and a shared 'Prometheus is down' flag."""

    prom: PrometheusConnect
    url: str
    timeout_s: float
    down: threading.Event
    down_reason: list[str]

    @classmethod
    def from_config(cls, cfg: PrometheusConfig) -> _Client:
        headers: dict[str, str] = {}
        if cfg.token_env:
            token = os.environ.get(cfg.token_env)
            if token:
                headers["Authorization"] = f"Bearer {token}"
        # No retries: a retry inside a deadline only hides a slow server, and retrying a stalled
        # read would multiply the wait.
        prom = PrometheusConnect(url=cfg.url.rstrip("/"), headers=headers or None,
                                 retry=Retry(total=0, raise_on_status=False), timeout=cfg.timeout_s)
        return cls(prom=prom, url=redact_url(cfg.url), timeout_s=cfg.timeout_s, down=threading.Event(),
                   down_reason=[])

    def _params(self) -> dict[str, str]:
        return {"timeout": f"{max(1, math.ceil(self.timeout_s))}s"}

    def instant(self, query: str, at: datetime) -> list[dict[str, Any]]:
        return self._call(lambda: self.prom.custom_query(
            query, params={"time": f"{at.timestamp():.3f}", **self._params()}, timeout=self.timeout_s))

    def range(self, query: str, start: datetime, end: datetime, step_s: float) -> list[dict[str, Any]]:
        return self._call(lambda: self.prom.custom_query_range(
            query, start_time=start, end_time=end, step=f"{step_s:g}s", params=self._params(),
            timeout=self.timeout_s))

    def _call(self, fn: Callable[[], Any]) -> Any:
        if self.down.is_set():
            raise PrometheusDown(self.down_reason[0] if self.down_reason else "unreachable")
        box: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                box["result"] = fn()
            except BaseException as e:  # handed to the caller below
                box["error"] = e
            finally:
                done.set()

        # A daemon thread per query: if the server stalls, the caller stops waiting at the
        # deadline and the thread ends on its own when the socket read timeout fires.
        threading.Thread(target=run, name="promql", daemon=True).start()
        if not done.wait(self.timeout_s):
            raise QueryTimeout(f"timeout after {self.timeout_s:g}s")
        if "error" not in box:
            result = box["result"]
            if not isinstance(result, list):
                raise QueryFailed(f"unexpected answer: {type(result).__name__}")
            return result
        e = box["error"]
        if isinstance(e, requests.Timeout) and not isinstance(e, requests.ConnectTimeout):
            raise QueryTimeout(f"timeout after {self.timeout_s:g}s") from e
        if isinstance(e, requests.ConnectionError):
            reason = f"cannot reach Prometheus at {self.url}: {_short(e)}"
            self.down_reason.append(reason)
            self.down.set()
            raise PrometheusDown(reason) from e
        if isinstance(e, PrometheusApiClientException):
            raise QueryFailed(_api_error(e)) from e
        if isinstance(e, (ValueError, KeyError, requests.RequestException)):
            raise QueryFailed(f"bad answer from Prometheus: {_short(e)}") from e
        raise QueryFailed(f"{type(e).__name__}: {_short(e)}") from e


def _api_error(e: PrometheusApiClientException) -> str:
    text = str(e)
    # "HTTP Status Code 400 (b'{...\"error\":\"parse error ...\"}')": keep the status and Prometheus's error.
    status = re.search(r"HTTP Status Code (\d+)", text)
    err = re.search(r'\\?"error\\?":\\?"(.*?)\\?"[,}]', text)
    parts = [f"HTTP {status.group(1)}" if status else "HTTP error"]
    if err:
        parts.append(err.group(1)[:200])
    return ": ".join(parts)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _Plan:
    window: TimeWindow
    baseline: TimeWindow
    matchers: dict[str, str]
    collection: str | None
    step_s: float
    chart_range_s: float


def series_step(window_s: float) -> float:
    """Chart step: at most MAX_SERIES_POINTS points, never below 15 s, a multiple of 15 s."""
    raw = max(MIN_STEP_S, window_s / MAX_SERIES_POINTS)
    return math.ceil(raw / MIN_STEP_S) * MIN_STEP_S


def _finite(raw: Any) -> float | None:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _combine(values: Iterable[float], how: str) -> float:
    vals = list(values)
    if how == "sum":
        return float(sum(vals))
    if how == "min":
        return min(vals)
    if how == "avg":
        return sum(vals) / len(vals)
    return max(vals)


@dataclass
class _Reading:
    value: float
    by: dict[str, float]
    label_value: str | None


def _read_instant(sig: SignalDef, result: list[dict[str, Any]]) -> tuple[_Reading | None, bool]:
    """(reading, had_nan): a reading when at least one series has a finite value."""
    vals: list[float] = []
    by: dict[str, float] = {}
    label_values: list[str] = []
    had_nan = False
    for item in result:
        v = _finite((item.get("value") or [None, None])[1])
        if v is None:
            had_nan = True
            continue
        metric = item.get("metric") or {}
        vals.append(v)
        if sig.by and sig.by in metric:
            key = str(metric[sig.by])
            by[key] = _combine([by[key], v], sig.combine) if key in by else v
        if sig.value_label and metric.get(sig.value_label):
            label_values.append(str(metric[sig.value_label]))
    if not vals:
        return None, had_nan
    return _Reading(_combine(vals, sig.combine), by, max(label_values) if label_values else None), had_nan


def _read_range(sig: SignalDef, result: list[dict[str, Any]], shift_s: float = 0.0) -> list[tuple[float, float]]:
    per_ts: dict[float, list[float]] = {}
    for item in result:
        for ts, raw in item.get("values") or []:
            v = _finite(raw)
            if v is not None:
                per_ts.setdefault(float(ts) + shift_s, []).append(v)
    return [(ts, _combine(vs, sig.combine)) for ts, vs in sorted(per_ts.items())]


def _variants_for(sig: SignalDef, collection: str | None) -> list[Variant]:
    return [v for v in sig.variants if collection is not None or not v.needs_collection]


def _unavailable(reason: str) -> str:
    return reason if reason.startswith("unavailable:") else f"unavailable: {reason}"


class _Evaluator:
    def __init__(self, client: _Client, plan: _Plan) -> None:
        self.client = client
        self.plan = plan

    def _render(self, v: Variant, range_s: float, res_s: float | None = None) -> str:
        return render(v.query, self.plan.matchers, range_s, res_s,
                      collection=self.plan.collection if v.needs_collection else None)

    def _first_with_data(self, sig: SignalDef, variants: list[Variant], at: datetime,
                         range_s: float) -> tuple[Variant | None, str | None, _Reading | None, str]:
        """Try the variants in order at `at`; (variant, query, reading, reason-if-none)."""
        had_nan = False
        for v in variants:
            q = self._render(v, range_s)
            reading, nan = _read_instant(sig, self.client.instant(q, at))
            if reading is not None:
                return v, q, reading, ""
            had_nan = had_nan or nan
        names = ", ".join(v.label for v in variants)
        if had_nan:
            return None, None, None, f"no observations in the window (tried: {names})"
        return None, None, None, f"no data (no matching series for: {names})"

    def evaluate(self, sig: SignalDef) -> SignalValue:
        plan = self.plan
        variants = _variants_for(sig, plan.collection)
        sv = SignalValue(name=sig.name, title=sig.title, unit=sig.unit)  # type: ignore[arg-type]
        window_s = plan.window.seconds
        try:
            sv.query = self._render(variants[0], window_s)
            chosen, query, reading, reason = self._first_with_data(sig, variants, plan.window.end, window_s)
        except PromQLError as e:
            sv.unavailable = _unavailable(f"cannot build the query: {e}")
            return sv
        if chosen is None or reading is None:
            sv.unavailable = _unavailable(reason)
            # The baseline can still say whether the signal existed a day ago.
            sv.baseline, sv.baseline_unavailable = self._baseline(sig, variants)
            return sv
        sv.query, sv.value, sv.by = query, reading.value, reading.by
        sv.variant = reading.label_value if sig.value_label else chosen.label
        ordered = [chosen, *[v for v in variants if v is not chosen]]
        sv.baseline, sv.baseline_unavailable = self._baseline(sig, ordered)
        if sig.series:
            sv.series = self._series(sig, chosen, plan.window, 0.0)
            sv.baseline_series = self._series(sig, chosen, plan.baseline, BASELINE_OFFSET.total_seconds())
        return sv

    def _baseline(self, sig: SignalDef, variants: list[Variant]) -> tuple[float | None, str | None]:
        try:
            _, _, reading, reason = self._first_with_data(sig, variants, self.plan.baseline.end,
                                                          self.plan.baseline.seconds)
        except (QueryTimeout, QueryFailed, PrometheusDown) as e:
            return None, _unavailable(str(e))
        if reading is None:
            return None, _unavailable(reason)
        return reading.value, None

    def _series(self, sig: SignalDef, v: Variant, window: TimeWindow, shift_s: float) -> list[tuple[float, float]]:
        # Each point is the signal over a short trailing range, so the chart shows the shape in time.
        q = self._render(v, self.plan.chart_range_s, res_s=self.plan.step_s)
        try:
            result = self.client.range(q, window.start, window.end, self.plan.step_s)
        except (QueryTimeout, QueryFailed, PrometheusDown) as e:
            log.info("series for %s unavailable: %s", sig.name, e)
            return []
        return _read_range(sig, result, shift_s)


def _safe_evaluate(ev: _Evaluator, sig: SignalDef) -> SignalValue:
    try:
        return ev.evaluate(sig)
    except PrometheusDown as e:
        return SignalValue(name=sig.name, title=sig.title, unit=sig.unit,  # type: ignore[arg-type]
                           unavailable=_unavailable(str(e)))
    except QueryTimeout as e:
        return SignalValue(name=sig.name, title=sig.title, unit=sig.unit,  # type: ignore[arg-type]
                           unavailable=_unavailable(str(e)), query=_first_query(ev, sig))
    except QueryFailed as e:
        return SignalValue(name=sig.name, title=sig.title, unit=sig.unit,  # type: ignore[arg-type]
                           unavailable=_unavailable(f"query failed: {e}"), query=_first_query(ev, sig))
    except Exception as e:  # a bug here must cost one signal, not the diagnosis
        log.exception("signal %s failed", sig.name)
        return SignalValue(name=sig.name, title=sig.title, unit=sig.unit,  # type: ignore[arg-type]
                           unavailable=_unavailable(f"internal error: {type(e).__name__}: {e}"))


def _first_query(ev: _Evaluator, sig: SignalDef) -> str | None:
    try:
        return ev._render(_variants_for(sig, ev.plan.collection)[0], ev.plan.window.seconds)
    except PromQLError:
        return None


# --------------------------------------------------------------------------- public API


def collect_signals(cluster: ClusterConfig, window: TimeWindow, collection: str | None = None, *,
                    signals: dict[str, SignalDef] | None = None,
                    names: Iterable[str] | None = None,
                    budget_s: float = DEFAULT_BUDGET_S) -> tuple[dict[str, SignalValue], list[Missing]]:
    """Every signal (or only `names`) over `window` and its baseline; never raises (except KeyError
    for unknown `names`, a programming error). Signals not finished within `budget_s` are unavailable.

    `collection` must already be validated against the live collection list; it is only ever
    injected as an escaped label value (collection_name) in the variants that ask for it.
    """
    defs = signals if signals is not None else load_signals()
    if names is not None:
        wanted = list(names)
        unknown = [n for n in wanted if n not in defs]
        if unknown:
            raise KeyError(f"unknown signal(s): {', '.join(unknown)}")
        defs = {n: defs[n] for n in wanted}
    cfg = cluster.prometheus
    if cfg is None:
        reason = f"no Prometheus configured for cluster {cluster.name!r} (prometheus.url in clusters.yaml)"
        return _all_unavailable(defs, reason), [Missing(source="metrics", what="Prometheus", reason=reason)]

    client = _Client.from_config(cfg)
    step = series_step(window.seconds)
    plan = _Plan(window=window, baseline=window.baseline(BASELINE_OFFSET), matchers=dict(cfg.matchers),
                 collection=collection, step_s=step, chart_range_s=max(120.0, 4 * step))
    # One cheap query first: a dead Prometheus then costs one timeout, not one per signal.
    try:
        client.instant("vector(1)", window.end)
    except (PrometheusDown, QueryTimeout, QueryFailed) as e:
        reason = str(e) if isinstance(e, PrometheusDown) else f"Prometheus at {client.url} is not answering: {e}"
        return _all_unavailable(defs, reason), [Missing(source="metrics", what="Prometheus", reason=reason)]

    ev = _Evaluator(client, plan)
    workers = max(1, min(getattr(cfg, "concurrency", DEFAULT_CONCURRENCY), len(defs)))
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="signals")
    try:
        futures = {name: pool.submit(_safe_evaluate, ev, sig) for name, sig in defs.items()}
        wait(futures.values(), timeout=budget_s)
        results = []
        for name, fut in futures.items():
            if fut.done():
                results.append(fut.result())
            else:
                fut.cancel()
                sig = defs[name]
                results.append(SignalValue(name=name, title=sig.title, unit=sig.unit,  # type: ignore[arg-type]
                                           unavailable=_unavailable(f"not finished within the {budget_s:g}s "
                                                                    "budget for all signals")))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    log.info("collected %d signals from %s in %.2fs", len(results), client.url, time.monotonic() - started)

    out = {sv.name: sv for sv in results}
    missing: list[Missing] = []
    if client.down.is_set():
        missing.append(Missing(source="metrics", what="Prometheus", reason=client.down_reason[0]))
    else:
        for sv in results:
            if sv.unavailable and any(k in sv.unavailable for k in ("timeout", "query failed", "budget")):
                missing.append(Missing(source="metrics", what=f"signal {sv.name}", reason=sv.unavailable))
    return out, missing


def _all_unavailable(defs: dict[str, SignalDef], reason: str) -> dict[str, SignalValue]:
    return {n: SignalValue(name=n, title=d.title, unit=d.unit, unavailable=_unavailable(reason))  # type: ignore[arg-type]
            for n, d in defs.items()}
