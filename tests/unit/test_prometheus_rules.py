"""The Prometheus and Alertmanager files in ``config/prometheus`` are valid and tested.

``promtool`` and ``amtool`` (Debian packages ``prometheus`` and
``prometheus-alertmanager``, which ``make setup`` installs) check the two
configurations and the rule files, and run the rule unit tests in
``config/prometheus/tests/``. Without the tools these tests are skipped, except
when the ``CI`` environment variable is set: then a missing tool is a failure.

The rules also keep a shape an integration test relies on: it shortens every
window by rewriting the ``[Nm]`` ranges and ``for: Nm`` fields of a copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "config" / "prometheus"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_YML = PROMETHEUS_DIR / "alertmanager.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager (or make setup)"

Rule = dict[str, Any]


def tool(name: str) -> str:
    """Path of ``name``; skip without it, or fail when running under CI."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so it is required", pytrace=False)
        pytest.skip(reason)
    return path


def run(*command: str) -> None:
    """Run a checker; on failure, show its whole output."""
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
    )


def rules() -> list[Rule]:
    found: list[Rule] = []
    for path in RULE_FILES:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in document["groups"]:
            found.extend(group["rules"])
    return found


def alerts() -> list[Rule]:
    return [rule for rule in rules() if "alert" in rule]


def test_there_are_rules_and_rule_tests() -> None:
    assert [path.name for path in RULE_FILES] == ["crmstream.yml"]
    assert RULE_TESTS, "no promtool unit tests in config/prometheus/tests/"


def test_prometheus_config_is_valid() -> None:
    # Also loads rules/*.yml, relative to the configuration file.
    run(tool("promtool"), "check", "config", "--lint-fatal", str(PROMETHEUS_YML))


def test_rule_files_are_valid() -> None:
    run(tool("promtool"), "check", "rules", "--lint-fatal", *map(str, RULE_FILES))


@pytest.mark.parametrize("unit_tests", RULE_TESTS, ids=lambda path: path.name)
def test_rule_unit_tests_pass(unit_tests: Path) -> None:
    run(tool("promtool"), "test", "rules", str(unit_tests))


def test_alertmanager_config_is_valid() -> None:
    run(tool("amtool"), "check-config", str(ALERTMANAGER_YML))


def test_every_alert_has_a_severity_summary_and_description() -> None:
    for alert in alerts():
        name = alert["alert"]
        assert alert.get("labels", {}).get("severity"), f"{name} has no severity"
        annotations = alert.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name


def test_every_window_is_a_plain_range_or_for_in_minutes() -> None:
    """No subquery step, no offset: the integration test rewrites ``[Nm]`` and ``for: Nm``."""
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        expr = rule["expr"]
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert re.fullmatch(r"\d+m", window), f"{name}: range [{window}]"
        assert not re.search(r"\boffset\b", expr), f"{name} uses offset"
        if "for" in rule:
            assert re.fullmatch(r"\d+m", rule["for"]), f"{name}: for: {rule['for']}"


def test_rated_satisfaction_alert_reads_only_the_rating_series() -> None:
    (rule,) = [a for a in alerts() if a["alert"] == "CrmstreamRatedSatisfactionLow"]
    names = set(re.findall(r"[\w:]*crmstream[\w:]*", rule["expr"]))
    assert names, rule["expr"]
    for name in names:
        assert re.fullmatch(r"crmstream_rated_satisfaction_(sum|count|bucket)", name), name
