"""docker-compose.yml as Compose would see it, with variables substituted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from tests.deploy.code_facts import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "compose" / "env.example"
PROJECT_IMAGE = "${PAYMENTSVC_IMAGE:-paymentsvc:local}"

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def raw_text() -> str:
    return COMPOSE_FILE.read_text()


def variables_used() -> set[str]:
    return {match.group(1) for match in _VARIABLE.finditer(raw_text())}


def env_example() -> dict[str, str]:
    """Keys set in env.example (uncommented lines)."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def env_example_mentions() -> set[str]:
    """Keys set or shown (in a comment) in env.example."""
    return set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def substitute(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, operator, default = match.groups()
        value = env.get(name)
        if operator in (":-", ":?") and not value:
            if operator == ":?":
                raise KeyError(f"{name} is required: {default}")
            return default
        if operator in ("-", "?") and value is None:
            if operator == "?":
                raise KeyError(f"{name} is required: {default}")
            return default
        return value or ""

    return _VARIABLE.sub(replace, text)


def load(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file with variables from `env` (env.example's by default)."""
    text = substitute(raw_text(), env_example() if env is None else env)
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def services(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    found = load(env)["services"]
    assert isinstance(found, dict)
    return found


def raw_services() -> dict[str, dict[str, Any]]:
    """Services before substitution, to tell the project image from others."""
    found = yaml.safe_load(raw_text())["services"]
    assert isinstance(found, dict)
    return found


def runs_project_image(name: str) -> bool:
    return raw_services()[name].get("image") == PROJECT_IMAGE
