"""The README's configuration tables list exactly what the settings read,
with the defaults the code applies.

A default written as a literal (`16`) is checked by setting the variable
to it: the settings must come out as they do when it is unset. A default in
words (unset, required, "the bundled ...") is not a value to set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from billing_server.config import Settings
from webhook_gateway.config import GatewaySettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The gateway refuses to start without a secret; any will do here.
GATEWAY_BASE = {"STRIPE_WEBHOOK_SECRET": "whsec_readme"}
# Defaults that are no value one could set, or that depend on the machine.
WORDS = {"unset", "required", "the bundled `plans.toml`", "the CPUs it may use; 1 on SQLite"}


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return self._values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class Row:
    name: str
    default: str

    @property
    def literal(self) -> str | None:
        """The default as a value to set, when the cell starts with one."""
        match = re.match(r"`([^`]*)`", self.default)
        return match.group(1) if match else None


def table(marker: str) -> list[Row]:
    """The rows of the table after `<!-- configuration: marker -->`."""
    text = README.read_text()
    start = text.index(f"<!-- configuration: {marker} -->")
    rows: list[Row] = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] in ("variable", "---"):
            continue
        rows += _rows(cells[0], cells[1])
    return rows


def _rows(names_cell: str, default_cell: str) -> list[Row]:
    """`A` / `B` with `x` / `y` is two rows; `PREFIX_CERT_FILE` / `_KEY_FILE`
    abbreviates PREFIX_KEY_FILE."""
    names = re.findall(r"`([A-Z_][A-Z0-9_]*)`", names_cell)
    expanded: list[str] = []
    for name in names:
        if name.startswith("_"):
            previous = expanded[-1].split("_")
            name = "_".join(previous[: len(previous) - name.count("_")]) + name
        expanded.append(name)
    defaults = default_cell.split(" / ") if len(expanded) > 1 else [default_cell]
    if len(defaults) != len(expanded):
        defaults = [default_cell] * len(expanded)
    return [Row(name, default) for name, default in zip(expanded, defaults, strict=True)]


def names_read(read: Any, base: Mapping[str, str]) -> set[str]:
    env = RecordingEnv(base)
    read(env)
    return env.read


def test_the_server_table_lists_exactly_what_the_settings_read() -> None:
    documented = {row.name for row in table("billing-server")}
    read = names_read(Settings.from_env, {})
    assert not read - documented, f"add to the README's table: {sorted(read - documented)}"
    assert not documented - read, f"no setting reads {sorted(documented - read)}"


def test_the_gateway_table_lists_exactly_what_the_settings_read() -> None:
    documented = {row.name for row in table("webhook-gateway")}
    read = names_read(GatewaySettings.from_env, GATEWAY_BASE)
    assert not read - documented, f"add to the README's table: {sorted(read - documented)}"
    assert not documented - read, f"no setting reads {sorted(documented - read)}"


def literal_rows(marker: str) -> list[tuple[str, str]]:
    """(name, default) of the rows whose default is a value."""
    return [(row.name, row.literal) for row in table(marker) if row.literal is not None]


def test_defaults_in_words_say_there_is_no_value() -> None:
    for marker in ("billing-server", "webhook-gateway"):
        for row in table(marker):
            if row.literal is None:
                assert row.default in WORDS, f"{row.name}: write the default as `value`"


@pytest.mark.parametrize(("name", "default"), literal_rows("billing-server"))
def test_the_server_defaults_are_the_codes(name: str, default: str) -> None:
    assert Settings.from_env({name: default}) == Settings.from_env({}), default


@pytest.mark.parametrize(("name", "default"), literal_rows("webhook-gateway"))
def test_the_gateway_defaults_are_the_codes(name: str, default: str) -> None:
    explicit = GatewaySettings.from_env({**GATEWAY_BASE, name: default})
    assert explicit == GatewaySettings.from_env(GATEWAY_BASE), default


def test_make_dev_reads_its_table_with_the_same_defaults() -> None:
    script = (ROOT / "scripts" / "dev").read_text()
    for row in table("make dev"):
        assert f"${{{row.name}:-{row.literal}}}" in script, row.name
