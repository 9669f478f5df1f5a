"""Stripe's form-encoded parameters: decoding, per-endpoint schemas, access.

The stripe library sends `line_items[0][price]=p&expand[0]=customer` (lists
always indexed, booleans as "true"/"false", brackets left unescaped); GET and
DELETE carry the same encoding in the query string. An empty string means
"unset this parameter", which is why scalars decode "" to None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

from stripe_emulator.errors import (
    StripeError,
    empty_parameter,
    invalid_value,
    missing_parameter,
    unknown_parameter,
)


@dataclass(frozen=True)
class Scalar:
    kind: str  # "string" | "integer" | "boolean"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Obj:
    fields: Mapping[str, Spec] = field(default_factory=dict)


@dataclass(frozen=True)
class ListOf:
    item: Spec


@dataclass(frozen=True)
class MapOf:
    """A free-form string map such as `metadata`."""


@dataclass(frozen=True)
class Range:
    """An integer or a `{gt, gte, lt, lte}` filter, as `created` takes."""


Spec: TypeAlias = Scalar | Obj | ListOf | MapOf | Range

STRING = Scalar("string")
INTEGER = Scalar("integer")
BOOLEAN = Scalar("boolean")
METADATA = MapOf()
RANGE = Range()
EXPAND = ListOf(STRING)


def enum(*choices: str) -> Scalar:
    return Scalar("string", choices)


def obj(**fields: Spec) -> Obj:
    return Obj(fields)


def list_of(item: Spec) -> ListOf:
    return ListOf(item)


def list_params(**filters: Spec) -> Obj:
    """The schema of a list endpoint: cursor pagination plus its filters."""
    return Obj(
        {
            "limit": INTEGER,
            "starting_after": STRING,
            "ending_before": STRING,
            **filters,
        }
    )


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode(raw: str) -> dict[str, Any]:
    """Decode a form body or query string into a tree of str / dict / list."""
    tree: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise invalid_value(key, f"Invalid parameter name: {key}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _insert(tree, path, value, key)
    return tree


def _insert(tree: dict[str, Any], path: list[str], value: str, key: str) -> None:
    node: Any = tree
    for index, segment in enumerate(path):
        last = index == len(path) - 1
        if segment == "":
            if not isinstance(node, list) or not last:
                raise invalid_value(key, f"Invalid array: {key}")
            node.append(value)
            return
        if not isinstance(node, dict):
            raise invalid_value(key, f"Invalid parameter: {key}")
        if last:
            node[segment] = value
            return
        empty: Any = [] if path[index + 1] == "" else {}
        node = node.setdefault(segment, empty)
        if isinstance(node, str):
            raise invalid_value(key, f"Invalid object: {key}")


def validate(tree: Mapping[str, Any], schema: Obj) -> Params:
    """Check `tree` against `schema` (plus `expand`) and coerce its values."""
    fields = {**schema.fields, "expand": EXPAND}
    return Params(_coerce_object(tree, Obj(fields), ""), "")


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _coerce_object(raw: Mapping[str, Any], spec: Obj, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _name(prefix, key)
        if key not in spec.fields:
            raise unknown_parameter(name)
        out[key] = _coerce(value, spec.fields[key], name)
    return out


def _coerce(raw: Any, spec: Spec, name: str) -> Any:
    if isinstance(spec, Scalar):
        return _coerce_scalar(raw, spec, name)
    if isinstance(spec, Obj):
        if raw == "":
            return None
        if not isinstance(raw, dict):
            raise invalid_value(name, f"Invalid object: {name}")
        return _coerce_object(raw, spec, name)
    if isinstance(spec, ListOf):
        return _coerce_list(raw, spec, name)
    if isinstance(spec, MapOf):
        if raw == "":
            return None  # `metadata=""` clears every key
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise invalid_value(name, f"Invalid hash: {name}")
        return dict(raw)
    return _coerce_range(raw, name)


def _coerce_scalar(raw: Any, spec: Scalar, name: str) -> Any:
    if not isinstance(raw, str):
        raise invalid_value(name, f"Invalid {spec.kind}: {name} must be a {spec.kind}")
    if raw == "":
        return None
    if spec.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise invalid_value(
                name, f"Invalid integer: {raw}", "parameter_invalid_integer"
            ) from None
    if spec.kind == "boolean":
        if raw not in ("true", "false"):
            raise invalid_value(name, f"Invalid boolean: {raw}")
        return raw == "true"
    if spec.choices and raw not in spec.choices:
        options = ", ".join(spec.choices[:-1]) + f", or {spec.choices[-1]}"
        raise invalid_value(name, f"Invalid {name}: must be one of {options}")
    return raw


def _coerce_list(raw: Any, spec: ListOf, name: str) -> list[Any]:
    if raw == "":
        return []
    if isinstance(raw, dict):
        if not all(key.isdigit() for key in raw):
            raise invalid_value(name, f"Invalid array: {name}")
        raw = [raw[key] for key in sorted(raw, key=int)]
    if not isinstance(raw, list):
        raise invalid_value(name, f"Invalid array: {name}")
    return [_coerce(item, spec.item, f"{name}[{i}]") for i, item in enumerate(raw)]


def _coerce_range(raw: Any, name: str) -> Any:
    if isinstance(raw, str):
        return _coerce_scalar(raw, INTEGER, name)
    if not isinstance(raw, dict):
        raise invalid_value(name, f"Invalid {name}")
    bounds = obj(gt=INTEGER, gte=INTEGER, lt=INTEGER, lte=INTEGER)
    return _coerce_object(raw, bounds, name)


class Params:
    """Validated parameters with typed getters that report full param names."""

    def __init__(self, values: Mapping[str, Any], prefix: str) -> None:
        self._values = values
        self._prefix = prefix

    def name(self, key: str) -> str:
        return _name(self._prefix, key)

    def has(self, key: str) -> bool:
        return key in self._values

    def keys(self) -> set[str]:
        return set(self._values)

    def raw(self) -> Mapping[str, Any]:
        return self._values

    def string(self, key: str) -> str | None:
        value = self._values.get(key)
        return value if isinstance(value, str) else None

    def integer(self, key: str) -> int | None:
        value = self._values.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def boolean(self, key: str) -> bool | None:
        value = self._values.get(key)
        return value if isinstance(value, bool) else None

    def strings(self, key: str) -> list[str]:
        value = self._values.get(key) or []
        return [item for item in value if isinstance(item, str)]

    def object(self, key: str) -> Params | None:
        value = self._values.get(key)
        return Params(value, self.name(key)) if isinstance(value, dict) else None

    def objects(self, key: str) -> list[Params]:
        value = self._values.get(key) or []
        return [
            Params(item or {}, f"{self.name(key)}[{index}]") for index, item in enumerate(value)
        ]

    def range(self, key: str) -> dict[str, int] | None:
        value = self._values.get(key)
        if isinstance(value, int):
            return {"eq": value}
        return value if isinstance(value, dict) else None

    def require(self, key: str) -> Any:
        if key not in self._values:
            raise missing_parameter(self.name(key))
        value = self._values[key]
        if value is None:
            raise empty_parameter(self.name(key))
        return value

    def require_string(self, key: str) -> str:
        value = self.require(key)
        if not isinstance(value, str):
            raise StripeError(f"Invalid string: {self.name(key)}", param=self.name(key))
        return value

    def require_integer(self, key: str) -> int:
        value = self.require(key)
        if not isinstance(value, int):
            raise StripeError(f"Invalid integer: {self.name(key)}", param=self.name(key))
        return value


def merged_metadata(current: Mapping[str, str], params: Params) -> dict[str, str]:
    """Apply Stripe's metadata update rules: keys merge, "" deletes a key."""
    if not params.has("metadata"):
        return dict(current)
    update = params.raw()["metadata"]
    if update is None:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
