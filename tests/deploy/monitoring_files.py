"""The metric names the alert rules and the dashboard query, read from
their PromQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.code_facts import ROOT

RULES_FILE = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD_FILE = ROOT / "deploy" / "grafana" / "paymentsvc.json"

# Series that other exporters provide: Prometheus itself, kube-state-metrics.
EXTERNAL_METRICS = {
    "up": "Prometheus (one per scrape target)",
    "kube_deployment_status_replicas_unavailable": "kube-state-metrics",
}
# PromQL's own words: functions, aggregations, operators and modifiers. A
# word that is none of these is a metric name.
PROMQL_WORDS = frozenset((
    "abs", "absent", "absent_over_time", "and", "atan2", "avg", "avg_over_time", "bool", "bottomk",
    "by", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "count", "count_over_time",
    "count_values", "delta", "deriv", "floor", "group", "group_left", "group_right",
    "histogram_quantile", "idelta", "ignoring", "increase", "irate", "label_join", "label_replace",
    "label_values", "last_over_time", "max", "max_over_time", "min", "min_over_time", "offset",
    "on", "or", "predict_linear", "quantile", "quantile_over_time", "rate", "resets", "round",
    "scalar", "sort", "sort_desc", "stddev", "sum", "sum_over_time", "time", "timestamp", "topk",
    "unless", "vector", "without",
))  # fmt: skip


def rules() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RULES_FILE.read_text())
    return loaded


def rule_list() -> list[dict[str, Any]]:
    return [rule for group in rules()["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in rule_list() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rule_list() if "record" in rule}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text())
    return loaded


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> Iterator[str]:
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            yield query["query"]


def metric_names(expr: str) -> set[str]:
    """The metric (or recorded series) names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings: label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana's variables
    # Label lists of by/without/on/ignoring/group_left/group_right, and label_values'.
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    text = re.sub(r"(label_values\s*\([^,]*),[^)]*\)", r"\1)", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    words = re.findall(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text)
    return {word for word in words if word not in PROMQL_WORDS}


def names_in(exprs: Iterator[str] | list[str]) -> set[str]:
    return {name for expr in exprs for name in metric_names(expr)}


def rule_metric_names() -> set[str]:
    return names_in([rule["expr"] for rule in rule_list()])


def dashboard_metric_names() -> set[str]:
    return names_in(dashboard_queries())


def path_of(name: str) -> Path:
    return RULES_FILE if name in rule_metric_names() else DASHBOARD_FILE
