"""`python -m bot.demo.inspect [SCENARIO ...]`: build the demo environment (no Milvus Lite) and
print every signal of each scenario (window and baseline), to tune scenario data by hand."""

from __future__ import annotations

import sys
import tempfile

from bot.config import load_config
from bot.demo.environment import build_environment
from bot.demo.scenario import load_scenarios
from bot.evidence.metrics import collect_signals


def main(argv: list[str]) -> int:
    scenarios = load_scenarios(argv or None)
    with tempfile.TemporaryDirectory(prefix="demo-inspect-") as tmp, \
            build_environment(scenarios, tmp, milvus=False) as env:
        print({k: round(v, 2) for k, v in env.timings.items()}, "samples", env.samples)
        cfg = load_config(env.config_path)
        for sc in scenarios:
            signals, _missing = collect_signals(cfg.cluster(sc.cluster), env.window(sc), sc.collection)
            print(f"== {sc.name} ({sc.milvus_version}) slow lines {env.slow_lines[sc.name]}")
            for name, s in sorted(signals.items()):
                if s.value is None and s.baseline is None:
                    continue
                by = f" by={ {k: round(v, 2) for k, v in s.by.items()} }" if s.by else ""
                print(f"  {name:28s} {s.value!s:>22.22} base {s.baseline!s:>14.14} [{s.variant}]{by}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
