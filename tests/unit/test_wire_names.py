"""Enum values are named as they travel: the wire names grpcurl and every
generated client use (`CANCELLATION_TIMING_AT_PERIOD_END`), never the
bare suffix, in the README and in the server's messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf.descriptor import EnumDescriptor

from billing.v1 import billing_pb2
from billing_server.domain.errors import InvalidArgument
from billing_server.entrypoints import messages

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"
ENUMS: list[EnumDescriptor] = list(billing_pb2.DESCRIPTOR.enum_types_by_name.values())
WIRE_NAMES = {value.name for enum in ENUMS for value in enum.values}
PREFIXES = tuple(re.sub(r"(?<!^)([A-Z])", r"_\1", e.name).upper() + "_" for e in ENUMS)


def bare_names() -> set[str]:
    """The suffixes alone (AT_PERIOD_END), which no client can send."""
    return {name.removeprefix(p) for name in WIRE_NAMES for p in PREFIXES if name.startswith(p)}


def test_every_enum_value_the_readme_names_exists() -> None:
    named = set(re.findall(r"\b(?:" + "|".join(PREFIXES) + r")[A-Z_]+\b", README.read_text()))
    assert named, "the README names no enum value"
    assert named <= WIRE_NAMES, named - WIRE_NAMES


def test_the_readme_never_names_a_value_by_its_bare_suffix() -> None:
    spans = set(re.findall(r"`([A-Z_]+)`", README.read_text()))
    assert not spans & bare_names(), spans & bare_names()


def test_the_cancellation_timing_error_names_the_wire_values() -> None:
    with pytest.raises(InvalidArgument) as refused:
        messages.cancellation_timing(billing_pb2.CANCELLATION_TIMING_UNSPECIFIED)
    named = set(re.findall(r"\b[A-Z][A-Z_]{3,}\b", str(refused.value)))
    assert named == {"CANCELLATION_TIMING_AT_PERIOD_END", "CANCELLATION_TIMING_IMMEDIATELY"}
