"""The playbook tests (playbooks/tests/*.yaml) run under pytest, plus the checks that keep them honest:
every rule fires in some test, the healthy baseline fires nothing but `healthy`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.playbook import load_playbooks
from bot.playbook.testing import Case, find_test_files, format_result, load_cases, run_case

PB = load_playbooks()
CASES, PROBLEMS = load_cases(find_test_files(PB))


def test_test_files_are_well_formed() -> None:
    assert CASES, "no playbook tests found"
    assert PROBLEMS == []


@pytest.mark.parametrize("case", CASES, ids=[f"{Path(c.file).stem}: {c.name}" for c in CASES])
def test_playbook_case(case: Case) -> None:
    result = run_case(PB, case)
    assert result.passed, format_result(result)


def test_every_rule_fires_in_some_test() -> None:
    fired: set[str] = set()
    for case in CASES:
        fired.update(run_case(PB, case).fired)
    never = sorted({r.id for r in PB.rules} - fired)
    assert never == [], f"rules no playbook test fires: {never}"


def test_every_rule_is_expected_to_fire_somewhere() -> None:
    """Not only fired by accident: each rule is named in some test's expect.fired."""
    expected = {rid for c in CASES for rid in (c.spec.get("expect") or {}).get("fired") or []}
    assert sorted({r.id for r in PB.rules} - expected) == []


def test_healthy_baseline_fires_only_healthy() -> None:
    case = next(c for c in CASES if c.name.startswith("healthy real 2.3.5 baseline"))
    result = run_case(PB, case)
    assert result.passed, format_result(result)
    assert result.fired == ["healthy"]


def test_every_cause_has_a_rule_file_and_every_rule_cites_the_seed() -> None:
    files = {Path(r.file).stem for r in PB.rules}
    assert files == set(PB.causes), "one rule file per cause"
    for r in PB.rules:
        assert r.seed, f"{r.id}: no `seed` (the seed signal it encodes)"
        assert r.links, f"{r.id}: no documentation link"
        assert all(t.source.startswith(("https://", "{{")) for t in r.links), r.id


def test_failing_case_prints_a_diff(tmp_path: Path) -> None:
    f = tmp_path / "wrong.yaml"
    f.write_text(yaml.safe_dump({"tests": [{
        "name": "expects the wrong rule", "version": "2.3.5",
        "signals": {"proxy_search_p99": 8, "queue_p99": {"value": 3900}, "nq_per_request": 4000},
        "expect": {"fired": ["strong_consistency_tsafe"], "not_fired": ["large_nq_queueing"]},
    }]}))
    cases, problems = load_cases([f])
    assert problems == []
    result = run_case(PB, cases[0])
    assert not result.passed
    text = format_result(result)
    assert "FAIL" in text and "expects the wrong rule" in text
    assert "expected to fire but did not: strong_consistency_tsafe" in text
    assert "fired but must not: large_nq_queueing" in text
    assert "- strong_consistency_tsafe" in text and "+ large_nq_queueing" in text


def test_structural_problems_are_reported(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump({"tests": [
        {"name": "typo", "signalz": {}, "expect": {"fired": ["healthy"]}},
        {"name": "no expect"},
        {"name": "unknown rule", "expect": {"fired": ["large_nq_queuing"]}},
    ]}))
    cases, problems = load_cases([f])
    from bot.playbook.testing import check_cases

    problems += check_cases(PB, cases)
    joined = "\n".join(problems)
    assert "test 'typo': unknown key(s) signalz" in joined
    assert "test 'no expect': needs an 'expect' mapping" in joined
    assert "unknown rule id 'large_nq_queuing' (did you mean 'large_nq_queueing'?)" in joined
