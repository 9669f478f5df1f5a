"""Renders alerts.yml as a PrometheusRule for the Prometheus Operator.

.venv/bin/python deploy/prometheus/render_rule.py          write it
.venv/bin/python deploy/prometheus/render_rule.py --check  fail if stale
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "alerts.yml"
TARGET = HERE.parent / "k8s" / "monitoring" / "prometheus-rule.yaml"
HEADER = (
    "# Generated from deploy/prometheus/alerts.yml by deploy/prometheus/render_rule.py:\n"
    "# edit alerts.yml and run it again (scripts/lint fails while this file is stale).\n"
)


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line expressions stay readable as block scalars.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def rendered() -> str:
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    manifest = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "paymentsvc",
            "labels": {
                "app.kubernetes.io/part-of": "paymentsvc",
                # The label a Prometheus' ruleSelector usually matches on.
                "role": "alert-rules",
            },
        },
        "spec": {"groups": rules["groups"]},
    }
    body = yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=1000)
    return HEADER + body


def main(argv: list[str]) -> int:
    text = rendered()
    if argv[1:] == ["--check"]:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run deploy/prometheus/render_rule.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
