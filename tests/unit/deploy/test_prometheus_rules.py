"""deploy/prometheus: the rules pass ``promtool check rules``, their unit tests pass
``promtool test rules`` (every alert fires in one), and every metric the rules and the
Grafana dashboard name is one the daemons export.

promtool is Debian's (package prometheus; ``make install`` installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml

from tests.support.paths import ROOT
from tests.unit.deploy.test_operations_doc import exposed_metrics

RULES = ROOT / "deploy" / "prometheus" / "logpipe-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "logpipe-rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "logpipe-dashboard.json"
METRIC = re.compile(r"\b(?:logs2kafka|kafka2cassandra)_[a-z0-9_]+")
#: What a histogram exports beside its name.
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is not installed: run make install (Debian package prometheus)"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 19 rules found" in done.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_fires_in_a_test_and_the_issues_cases_have_one() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        check["alertname"]
        for test in tests
        for check in test["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert fired == set(alerts())
    for needed in (
        "LogpipePipelineStalled",
        "LogpipeConsumerLagGrowing",
        "LogpipeDeadLetters",
        "LogpipeFilesUnread",
        "LogpipeLogBytesLost",
        "LogpipeCassandraUnreachable",
        "LogpipeKafkaUnreachable",
        "LogpipeCheckpointsNotAdvancing",
        "LogpipeOffsetsNotCommitted",
    ):
        assert needed in fired


def exported(name: str, metrics: set[str]) -> bool:
    return name in metrics or any(
        name.endswith(suffix) and name[: -len(suffix)] in metrics for suffix in HISTOGRAM_SERIES
    )


def test_the_rules_and_the_dashboard_name_only_exported_metrics() -> None:
    metrics = set(exposed_metrics())
    # recording rules are named logpipe:<metric>:<what>: not series of the daemons
    named = set(METRIC.findall(re.sub(r"logpipe:\w+:\w+", "", RULES.read_text())))
    queries = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    named |= {name for query in queries for name in METRIC.findall(query)}
    missing = sorted(name for name in named if not exported(name, metrics))
    assert missing == [], missing
    assert len(named) >= 15
