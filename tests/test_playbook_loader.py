"""Loading validates everything; a broken playbook names the file, the rule and the problem."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot.config import AppConfig, ClusterConfig
from bot.playbook import PlaybookError, load_playbooks
from bot.playbook.loader import DEFAULT_DIR

GOOD_RULE = """
  - id: {id}
    severity: warning
    seed: test
    title: A test rule
    when: {{signal: queue_p99, op: ">=", threshold: queue_p99_high_ms}}
    summary: "queue p99 {{{{ signals.queue_p99.text }}}}"
    fix: ["do something"]
    links: ["https://milvus.io/docs/index.md"]
"""


@pytest.fixture
def pbdir(tmp_path: Path) -> Path:
    """A private copy of the real playbooks directory, to break."""
    d = tmp_path / "playbooks"
    shutil.copytree(DEFAULT_DIR, d)
    return d


def write_rules(pbdir: Path, body: str, name: str = "zz_broken.yaml", cause: str = "heavy_workload") -> None:
    (pbdir / "rules" / name).write_text(f"cause: {cause}\nrules:\n" + textwrap.dedent(body))


def load_error(pbdir: Path) -> str:
    with pytest.raises(PlaybookError) as exc:
        load_playbooks(pbdir)
    return str(exc.value)


def test_real_playbooks_load() -> None:
    pb = load_playbooks()
    assert len(pb.rules) >= 20
    assert {r.cause for r in pb.rules} == set(pb.causes)


def test_unknown_signal_names_file_rule_and_suggestion(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="typo_signal").replace("signal: queue_p99,", "signal: queue_p999,"))
    msg = load_error(pbdir)
    assert "playbooks/rules/zz_broken.yaml: rule 'typo_signal': when: unknown signal 'queue_p999'" in msg
    assert "did you mean 'queue_p99'" in msg


def test_bad_operator(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="bad_op").replace('op: ">="', 'op: "=>"'))
    msg = load_error(pbdir)
    assert "rules/zz_broken.yaml: rule 'bad_op': when: bad operator '=>' for queue_p99 (number)" in msg


def test_operator_that_does_not_fit_the_fact_type(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="list_gt").replace(
        '{signal: queue_p99, op: ">=", threshold: queue_p99_high_ms}', '{fact: slowlog.collections, op: ">", value: 3}'))
    assert "rule 'list_gt': when: bad operator '>' for slowlog.collections (list)" in load_error(pbdir)


def test_template_syntax_error(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="bad_tpl").replace("{{ signals.queue_p99.text }}", "{{ signals.queue_p99.text "))
    msg = load_error(pbdir)
    assert "rules/zz_broken.yaml: rule 'bad_tpl': summary: template syntax error at line 1" in msg


def test_template_unknown_signal_and_fact_and_variable(pbdir: Path) -> None:
    body = GOOD_RULE.format(id="bad_names").replace(
        "{{ signals.queue_p99.text }}", "{{ signals.queue_p9.text }} {{ slowlog.max_nqq }} {{ colection.name }}")
    write_rules(pbdir, body)
    msg = load_error(pbdir)
    assert "rule 'bad_names': summary: unknown signal 'queue_p9'" in msg
    assert "rule 'bad_names': summary: unknown fact slowlog.max_nqq" in msg
    assert "rule 'bad_names': summary: unknown variable 'colection'" in msg


def test_duplicate_id_names_both_files(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="large_nq_queueing"))
    msg = load_error(pbdir)
    assert "rules/zz_broken.yaml: rule 'large_nq_queueing': duplicate rule id (also in playbooks/rules/heavy_workload.yaml)" in msg


def test_unknown_cause(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="wrong_cause"), cause="heavy_workloads")
    msg = load_error(pbdir)
    assert "rule 'wrong_cause': unknown cause 'heavy_workloads' (did you mean 'heavy_workload'?)" in msg


def test_unknown_threshold_and_fact_and_scope(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="bad_th").replace("queue_p99_high_ms", "queue_p99_hihg_ms")
                + GOOD_RULE.format(id="bad_fact").replace(
                    "{signal: queue_p99, op: \">=\", threshold: queue_p99_high_ms}", "{fact: slowlog.maxnq, op: \">\", value: 1}")
                + GOOD_RULE.format(id="needs_scope").replace(
                    "{signal: queue_p99, op: \">=\", threshold: queue_p99_high_ms}", "{fact: collection.row_count, op: \">\", value: 1}"))
    msg = load_error(pbdir)
    assert "rule 'bad_th': when: unknown threshold 'queue_p99_hihg_ms' (did you mean 'queue_p99_high_ms'?)" in msg
    assert "rule 'bad_fact': when: unknown fact 'slowlog.maxnq'" in msg
    assert "rule 'needs_scope': when: fact 'collection.row_count' needs 'for_each: collection'" in msg


def test_misspelt_key_and_missing_fix(pbdir: Path) -> None:
    body = GOOD_RULE.format(id="typo_key").replace("    fix:", "    fixes:")
    write_rules(pbdir, body)
    msg = load_error(pbdir)
    assert "rule 'typo_key': unknown key 'fixes' (did you mean 'fix'?)" in msg
    assert "rule 'typo_key': missing 'fix' steps" in msg


def test_nested_condition_path_and_value_type(pbdir: Path) -> None:
    body = GOOD_RULE.format(id="nested").replace(
        "{signal: queue_p99, op: \">=\", threshold: queue_p99_high_ms}",
        "{all: [{signal: queue_p99, op: \">\", value: 1}, {any: [{fact: milvus.version, op: \">=\", value: \"two\"}]}]}")
    write_rules(pbdir, body)
    assert "rule 'nested': when.all[1].any[0]: value 'two' is not a version like 2.5.7" in load_error(pbdir)


def test_unless_fired_unknown_and_cycle(pbdir: Path) -> None:
    body = (GOOD_RULE.format(id="aaa_one") + "    unless_fired: [aaa_two]\n"
            + GOOD_RULE.format(id="aaa_two") + "    unless_fired: [aaa_one]\n"
            + GOOD_RULE.format(id="aaa_three") + "    unless_fired: [no_such_rule]\n")
    write_rules(pbdir, body)
    msg = load_error(pbdir)
    assert "rule 'aaa_three': unless_fired: unknown rule id 'no_such_rule'" in msg
    assert "unless_fired cycle: aaa_one -> aaa_two -> aaa_one" in msg


def test_invalid_yaml_names_the_file(pbdir: Path) -> None:
    (pbdir / "rules" / "zz_broken.yaml").write_text("rules: [\n  - id: x\n")
    assert "playbooks/rules/zz_broken.yaml: not valid YAML" in load_error(pbdir)


def test_all_problems_are_reported_at_once(pbdir: Path) -> None:
    write_rules(pbdir, GOOD_RULE.format(id="first_bad").replace("queue_p99,", "queue_p999,")
                + GOOD_RULE.format(id="second_bad").replace('severity: warning', 'severity: urgent'))
    msg = load_error(pbdir)
    assert "rule 'first_bad'" in msg and "rule 'second_bad': severity must be one of critical, warning, info" in msg


def test_bad_threshold_and_version_range_in_data_files(pbdir: Path) -> None:
    th = pbdir / "thresholds.yaml"
    th.write_text(th.read_text() + "\n  broken_one: {value: high, unit: ms}\n")
    vs = pbdir / "versions.yaml"
    vs.write_text(vs.read_text().replace('versions: ">=2.6.17,<=2.6.18"', 'versions: "2.6.17 to 2.6.18"'))
    msg = load_error(pbdir)
    assert "playbooks/thresholds.yaml: threshold 'broken_one': needs a numeric 'value'" in msg
    assert "playbooks/versions.yaml: regressions[3] (grouped_nq_cap_2_6_17): cannot read version range '2.6.17 to 2.6.18'" in msg


def test_cluster_override_of_unknown_threshold_names_the_cluster() -> None:
    pb = load_playbooks()
    with pytest.raises(PlaybookError) as exc:
        pb.thresholds_for({"queue_p99_hihg_ms": 200}, cluster="prod-eu")
    msg = str(exc.value)
    assert "cluster 'prod-eu'" in msg and "unknown threshold 'queue_p99_hihg_ms'" in msg
    assert "did you mean 'queue_p99_high_ms'" in msg
    values = pb.thresholds_for({"queue_p99_high_ms": 250}, cluster="prod-eu")
    assert values["queue_p99_high_ms"] == 250.0
    assert values["latency_healthy_ms"] == pb.thresholds["latency_healthy_ms"].value
    AppConfig(clusters=[ClusterConfig(name="x", thresholds={"queue_p99_high_ms": 1})])  # the config accepts names


def test_cache_reloads_after_a_file_changes(pbdir: Path) -> None:
    first = load_playbooks(pbdir)
    assert load_playbooks(pbdir) is first
    write_rules(pbdir, GOOD_RULE.format(id="added_later"))
    import os

    f = pbdir / "rules" / "zz_broken.yaml"
    os.utime(f, (f.stat().st_atime + 5, f.stat().st_mtime + 5))
    second = load_playbooks(pbdir)
    assert second is not first and second.rule("added_later") is not None
