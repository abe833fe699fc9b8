"""Run the demo: build the environment, diagnose every demo cluster, print the diagnoses, stop.

    code = run_demo(["or_chain"], fmt="text")

Everything runs on loopback: one real Prometheus (promtool blocks), log files, one Milvus Lite file.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from bot.config import AppConfig, load_config
from bot.demo.environment import DemoEnvironment, build_environment
from bot.demo.scenario import Scenario, load_scenarios
from bot.models import Diagnosis, TriageRequest
from bot.promlab import INSTALL_HINT, PromlabError, find_binary


class DemoError(RuntimeError):
    """The demo cannot run here; the message says what to install or change."""


def check_binaries() -> None:
    for name in ("prometheus", "promtool"):
        try:
            find_binary(name)
        except PromlabError as e:
            raise DemoError(f"the demo needs the real Prometheus server: `{name}` was not found.\n"
                            f"Install it with:  sudo apt-get install prometheus\n({INSTALL_HINT})") from e


def build_request(sc: Scenario, env: DemoEnvironment) -> TriageRequest:
    fields: dict[str, Any] = {"cluster": sc.cluster, "collection": sc.collection, "window": env.window(sc),
                              "trigger": "cli", "requested_by": "demo"}
    # Only when the model knows the field (added by the playbooks work for the outside-Milvus case).
    if sc.request.reported_latency_ms is not None and "reported_latency_ms" in TriageRequest.model_fields:
        fields["reported_latency_ms"] = sc.request.reported_latency_ms
    return TriageRequest(**fields)


def diagnose_scenario(sc: Scenario, env: DemoEnvironment, config: AppConfig) -> Diagnosis:
    from bot.diagnosis import diagnose

    return diagnose(build_request(sc, env), config)


def fired_rules(diagnosis: Diagnosis) -> list[str]:
    return [f.rule_id for f in diagnosis.findings]


def check_expectations(sc: Scenario, fired: list[str], causes: dict[str, str] | None = None) -> list[str]:
    """Problems with what fired against the scenario's `expect`; empty when all is as expected.
    `causes` maps rule id -> cause, to tell the healthy rule from real findings."""
    causes = causes or {}
    problems = [f"expected rule {r!r} did not fire" for r in sc.expect.fires if r not in fired]
    problems += [f"rule {r!r} fired but must not" for r in sc.expect.not_fires if r in fired]
    if sc.expect.exclusive:
        extra = [r for r in fired if r not in sc.expect.fires]
        if extra:
            problems.append(f"only {', '.join(sc.expect.fires)} may fire, but {', '.join(extra)} fired too")
    if sc.expect.healthy:
        extra = [r for r in fired if causes.get(r) != "healthy"]
        if extra:
            problems.append(f"a healthy cluster fired {', '.join(extra)}")
    return problems


def render(diagnosis: Diagnosis, fmt: str) -> str:
    from bot.render import render as render_diagnosis

    return render_diagnosis(diagnosis, fmt)


def quiet_libraries() -> None:
    """pymilvus logs every UNIMPLEMENTED call of Milvus Lite (segment info) at ERROR with a traceback;
    the evidence already reports them as "could not check"."""
    # grpc._server: the in-process Milvus Lite server logs each call it does not implement.
    for name in ("pymilvus", "milvus_lite", "grpc._server"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def run_demo(names: list[str] | None = None, *, fmt: str = "text", keep: bool = False, serve: bool = False,
             workdir: str | None = None, out: TextIO = sys.stdout) -> int:
    check_binaries()
    quiet_libraries()
    scenarios = load_scenarios(names)
    wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="milvus-triage-demo-"))
    keep = keep or serve or workdir is not None
    t0 = time.monotonic()
    say = (lambda msg: print(msg, file=sys.stderr)) if fmt == "json" else (lambda msg: print(msg, file=out))
    say(f"Building {len(scenarios)} demo cluster(s) in {wd} (Prometheus + promtool, log files, Milvus Lite)...")
    results: list[tuple[Scenario, Diagnosis | None, list[str]]] = []
    if threading.current_thread() is threading.main_thread():
        # `kill` / a supervisor's SIGTERM must still stop Prometheus (it runs in its own session).
        signal.signal(signal.SIGTERM, _terminate)
    env = build_environment(scenarios, wd)
    try:
        say(f"Ready in {time.monotonic() - t0:.1f}s: Prometheus {env.prometheus.url if env.prometheus else '-'}, "
            f"window {env.window(scenarios[0]).start:%H:%M}-{env.end:%H:%M} UTC\n")
        config = load_config(env.config_path)
        payload = []
        for sc in scenarios:
            diagnosis = diagnose_scenario(sc, env, config)
            fired = fired_rules(diagnosis)
            causes = {f.rule_id: f.cause for f in diagnosis.findings}
            problems = check_expectations(sc, fired, causes)
            results.append((sc, diagnosis, problems))
            if fmt == "json":
                payload.append({"scenario": sc.name, "cluster": sc.cluster, "expected": sc.expect.fires,
                                "fired": fired, "problems": problems,
                                "diagnosis": json.loads(render(diagnosis, "json"))})
                continue
            rule = "=" * 78
            print(f"{rule}\nScenario {sc.name}: {sc.title}\n  cluster {sc.cluster}, Milvus {sc.milvus_version}"
                  f"{', collection ' + sc.collection if sc.collection else ''}\n{rule}", file=out)
            print(render(diagnosis, fmt), file=out)
            print(file=out)
        if fmt == "json":
            print(json.dumps(payload, indent=2), file=out)
        else:
            print(summary(results), file=out)
        if serve:
            say(f"\nServing: Prometheus at {env.prometheus.url if env.prometheus else '-'}; config {env.config_path}\n"
                f"Try:  milvus-triage --config {env.config_path} slow {scenarios[0].cluster}\n"
                "Press Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        env.close()
        if not keep:
            shutil.rmtree(wd, ignore_errors=True)
        else:
            say(f"Kept the demo files in {wd} (config {env.config_path}).")
    return 1 if any(p for _, _, p in results) else 0


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def summary(results: list[tuple[Scenario, Diagnosis | None, list[str]]]) -> str:
    lines = ["Summary: scenario -> rules fired", "-" * 78]
    for sc, diagnosis, problems in results:
        fired = ", ".join(fired_rules(diagnosis)) if diagnosis else "-"
        mark = "ok " if not problems else "!! "
        lines.append(f"{mark}{sc.name:22s} {fired or '(none)'}")
        lines += [f"      {p}" for p in problems]
    return "\n".join(lines)
