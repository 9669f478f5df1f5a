"""The alert rules: promtool accepts them and their unit tests pass, each
alert is tested firing and quiet, carries what the person paged needs, and
the PrometheusRule is the same rules."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.code_facts import ROOT
from tests.deploy.monitoring_files import RULES_FILE, alert_rules, rules

pytestmark = pytest.mark.unit

PROMETHEUS = ROOT / "deploy" / "prometheus"
UNIT_TESTS = sorted(PROMETHEUS.glob("*.test.yml"))
PROMETHEUS_RULE = ROOT / "deploy" / "k8s" / "monitoring" / "prometheus-rule.yaml"
RUNBOOK_BASE = "https://git.example.com/paymentsvc/blob/main/"
SEVERITIES = {"critical", "warning"}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    # Not a skip: CI must run these. scripts/lint, which CI runs first, installs it.
    assert binary, "promtool is missing: apt-get install prometheus (scripts/lint does)"
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def github_anchors(markdown: str) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", RULES_FILE)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("path", UNIT_TESTS, ids=lambda p: p.name)
def test_the_rules_unit_tests_pass(path: Path) -> None:
    tested = promtool("test", "rules", path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for expr_test in case.get("promql_expr_test", []):
                for sample in expr_test.get("exp_samples", []):
                    if 'alertstate="firing"' in sample["labels"]:
                        firing.update(re.findall(r'alertname="(\w+)"', sample["labels"]))
            for alert_test in case.get("alert_rule_test", []):
                if alert_test.get("exp_alerts") == []:
                    quiet.add(alert_test["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "never shown firing"
    assert names - quiet == set(), "never shown quiet"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: str(r["alert"]))
def test_every_alert_says_how_bad_what_and_where_to_read_on(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert "Likely cause" in annotations["description"]
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_BASE), url
    page, _, anchor = url.removeprefix(RUNBOOK_BASE).partition("#")
    assert anchor == rule["alert"].lower()
    assert anchor in github_anchors((ROOT / page).read_text()), f"no section for {url}"


def test_the_prometheus_rule_holds_the_same_rules() -> None:
    manifest = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["spec"]["groups"] == rules()["groups"]
    # And it is byte for byte what the renderer writes.
    check = subprocess.run(
        [sys.executable, str(PROMETHEUS / "render_rule.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_the_monitoring_kustomization_applies_the_rule_and_the_scrapes() -> None:
    kustomization = yaml.safe_load((PROMETHEUS_RULE.parent / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {"prometheus-rule.yaml", "service-monitors.yaml"}
    monitors = list(
        yaml.safe_load_all((PROMETHEUS_RULE.parent / "service-monitors.yaml").read_text())
    )
    # The job label is the Service's name: the jobs the rules select on.
    jobs = {m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for m in monitors}
    assert jobs == set(re.findall(r'job="([\w-]+)"', RULES_FILE.read_text()))
