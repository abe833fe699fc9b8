"""The demo: scenario YAML (demo/scenarios) -> metrics in a real Prometheus, slow-log files,
Milvus Lite collections and a clusters.yaml -> diagnoses. See the README, section "Try it"."""

from bot.demo.environment import DemoEnvironment, build_environment, demo_end
from bot.demo.run import DemoError, check_expectations, run_demo
from bot.demo.scenario import Scenario, ScenarioError, load_scenarios

__all__ = ["DemoEnvironment", "DemoError", "Scenario", "ScenarioError", "build_environment",
           "check_expectations", "demo_end", "load_scenarios", "run_demo"]
