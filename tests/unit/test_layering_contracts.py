"""The layering the README states is what import-linter checks, with no
import exempt (scripts/lint runs `lint-imports` on these contracts)."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def test_the_contracts_hold_without_exemptions() -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    by_source = {tuple(c["source_modules"]): c for c in contracts}
    domain = by_source[("billing_server.domain",)]
    entrypoints = by_source[("billing_server.entrypoints",)]
    assert {"grpc", "sqlalchemy", "stripe", "billing_server.adapters"} <= set(
        domain["forbidden_modules"]
    )
    assert entrypoints["forbidden_modules"] == ["billing_server.adapters"]
    rows = by_source[
        ("billing_server.bootstrap", "billing_server.entrypoints", "billing_server.service_layer")
    ]
    assert rows["forbidden_modules"] == ["billing_server.adapters.orm"]
    assert [c.get("ignore_imports", []) for c in contracts] == [[], [], []]
