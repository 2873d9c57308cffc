"""The alert rules of monitoring/prometheus/, checked offline with promtool.

Every rule file passes `promtool check rules` (the prometheus role checks it
again before it lands on a host); every unit test file of
monitoring/prometheus/tests/ passes `promtool test rules`; every alert has a
unit test where it fires and one where it stays silent, and carries what an
operator reads (severity, summary, description, runbook). promtool is
Debian 12's, fetched by tests/lab/monitoring-tools.sh (`make test-infra`
runs it first).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "monitoring" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))

_spec = importlib.util.spec_from_file_location("dashboards", REPO / "tests" / "infra" / "hosts" / "dashboards.py")
dashboards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dashboards)

SEVERITIES = {"critical", "warning"}
ANNOTATIONS = ("summary", "description", "runbook")


@pytest.fixture(scope="module")
def promtool():
    try:
        return dashboards.promtool()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))


def run(*argv, cwd=None):
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)


def alert_rules():
    """{alert name: (rule file, rule)} over every rule file."""
    found = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] not in found, (
                        f"{rule['alert']} is defined twice ({found[rule['alert']][0].name}, {path.name})"
                    )
                    found[rule["alert"]] = (path, rule)
    return found


def alert_cases():
    """(test file, rule files it loads, alert_rule_test entry) of every unit test."""
    cases = []
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text())
        loaded = {(path.parent / name).resolve() for name in doc.get("rule_files", [])}
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []):
                cases.append((path, loaded, case))
    return cases


def test_there_are_rules_and_tests():
    assert RULE_FILES, "no rule files in monitoring/prometheus/rules/"
    assert TEST_FILES, "no unit tests in monitoring/prometheus/tests/"
    assert {"HighErrorRate", "HighLatency", "DatabaseConnectionPoolExhausted"} <= set(alert_rules())


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(promtool, path):
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, f"promtool check rules {path.name}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(promtool, path):
    # rule_files in a test file are relative to it; run from its directory.
    result = run(promtool, "test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, f"promtool test rules {path.name}:\n{result.stdout}{result.stderr}"


def test_every_rule_file_is_unit_tested():
    loaded = {rule_file for _, files, _ in alert_cases() for rule_file in files}
    for path in TEST_FILES:
        for name in yaml.safe_load(path.read_text()).get("rule_files", []):
            assert (path.parent / name).is_file(), f"{path.name} loads {name}, which does not exist"
    untested = [p.name for p in RULE_FILES if p.resolve() not in loaded]
    assert not untested, f"rule files no unit test loads: {untested}"


def test_the_reference_alerts_are_as_written():
    """The reference system's three alerts, with its names and expressions."""
    rules = alert_rules()
    expected = {
        "HighErrorRate": 'rate(http_requests_total{status=~"5.."}[5m]) > 0.1',
        "HighLatency": "histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m])) > 0.5",
        "DatabaseConnectionPoolExhausted": "oauth_database_connections_active / oauth_database_connections_max > 0.9",
    }
    for name, expr in expected.items():
        assert " ".join(rules[name][1]["expr"].split()) == expr, name


@pytest.mark.parametrize("name", sorted(alert_rules()))
def test_alert_has_severity_for_and_annotations(name):
    path, rule = alert_rules()[name]
    where = f"{name} ({path.name})"
    assert rule.get("labels", {}).get("severity") in SEVERITIES, (
        f"{where}: labels.severity must be one of {sorted(SEVERITIES)}"
    )
    assert rule.get("for"), f"{where}: no `for:` (the lab shortens every alert's `for:` through prometheus_alert_for)"
    annotations = rule.get("annotations", {})
    for key in ANNOTATIONS:
        assert str(annotations.get(key, "")).strip(), f"{where}: annotations.{key} is missing or empty"
    assert "\n" not in annotations["runbook"].strip(), (
        f"{where}: the runbook is one line (the README's table repeats it)"
    )


@pytest.mark.parametrize("name", sorted(alert_rules()))
def test_alert_has_a_firing_and_a_silent_case(name):
    path, rule = alert_rules()[name]
    cases = [case for _, files, case in alert_cases() if path.resolve() in files and case.get("alertname") == name]
    firing = [alert for case in cases for alert in case.get("exp_alerts") or []]
    silent = [case for case in cases if not case.get("exp_alerts")]
    assert firing, f"{name}: no unit test where it fires (monitoring/prometheus/tests/)"
    assert silent, f"{name}: no unit test where it stays silent (exp_alerts: [])"
    for alert in firing:
        labels = alert.get("exp_labels", {})
        assert labels.get("severity") == rule["labels"]["severity"], (
            f"{name}: a firing case expects severity {labels.get('severity')!r}"
        )
        assert {"job", "instance"} <= set(labels), (
            f"{name}: a firing case must expect the job and instance labels: {labels}"
        )
        assert alert.get("exp_annotations", {}).get("summary"), f"{name}: a firing case must expect the summary"


def test_a_broken_rule_file_fails_promtool(promtool, tmp_path):
    """The check can fail: a rule with bad PromQL, and one without expr."""
    bad_expr = tmp_path / "bad_expr.yml"
    bad_expr.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "broken", "rules": [{"alert": "Broken", "expr": "rate(up[5m] > 0", "for": "1m"}]}]}
        )
    )
    result = run(promtool, "check", "rules", str(bad_expr))
    assert result.returncode != 0, result.stdout
    assert "Broken" in result.stdout + result.stderr or "parse" in (result.stdout + result.stderr).lower()

    no_expr = tmp_path / "no_expr.yml"
    no_expr.write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": [{"alert": "NoExpr", "for": "1m"}]}]}))
    assert run(promtool, "check", "rules", str(no_expr)).returncode != 0


def test_a_wrong_expectation_fails_promtool_test(promtool, tmp_path):
    """The unit tests can fail: InstanceDown expected where the target is up."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "hosts.yml").write_text((PROMETHEUS / "rules" / "hosts.yml").read_text())
    test = tmp_path / "wrong.yml"
    test.write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules/hosts.yml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": [{"series": 'up{job="node", instance="db1"}', "values": "1x10"}],
                        "alert_rule_test": [
                            {
                                "eval_time": "10m",
                                "alertname": "InstanceDown",
                                "exp_alerts": [
                                    {"exp_labels": {"severity": "critical", "job": "node", "instance": "db1"}}
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    )
    result = run(promtool, "test", "rules", test.name, cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert "InstanceDown" in result.stdout + result.stderr
