"""Checking API answers against the object definitions in the `stripe` library.

`stripe` is generated from Stripe's OpenAPI spec for the API version it pins
(`stripe.api_version`), and declares every field of every object as a typed
class attribute: `Optional[...]` where the field may be null or absent,
`Literal[...]` for enums, nested `StripeObject` classes for hashes,
`ExpandableField[X]` for an id that can be expanded into an `X`. `check`
holds a JSON answer against those declarations, so an upgrade of `stripe`
that moves, adds or removes a field shows up as a list of findings.

Enums are declared as `Union[Literal[...], str]` so that old libraries accept
new values; the `str` arm is ignored here: the emulator must only send the
values its version knows.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Union, get_args, get_origin

import stripe
from stripe._stripe_object import UntypedStripeObject

from tests.emulator.stripe_declarations import CLASSES, ID_PREFIXES, declared_fields, object_name

# An API object (not a nested hash) carries every field its class declares,
# null when it does not apply, except these: included only with `expand[]`,
# only for Connect, or (a webhook endpoint's secret) only in the answer that
# created it; and `deleted`, only on a deleted object's stub.
# Nested hashes leave out optional fields that do not apply (an invoice's
# `issuer.account` exists only when `issuer.type` is "account"), so there only
# the non-optional fields are required.
SENT_ONLY_SOMETIMES = {
    "checkout.session.line_items",
    "customer.cash_balance",
    "customer.invoice_credit_balance",
    "customer.sources",
    "customer.subscriptions",
    "customer.tax",
    "customer.tax_ids",
    "event.account",
    "invoice.confirmation_secret",
    "invoice.payments",
    "item.discounts",
    "item.taxes",
    "plan.tiers",
    "price.currency_options",
    "price.tiers",
    "webhook_endpoint.secret",
}


@dataclass(frozen=True)
class Finding:
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def check(body: Mapping[str, Any]) -> list[Finding]:
    """Everything in one API answer (an object or a list) that its version does not declare."""
    return _check_any(body, str(body.get("object", "?")))


def _check_any(value: Any, path: str) -> list[Finding]:
    """An object whose class is named by its own `object` field (a list's
    item, an event's object); findings inside it are named from its type."""
    if not isinstance(value, dict):
        return [Finding(path, f"expected an object, got {_short(value)}")]
    kind = value.get("object")
    if kind == "list":
        return _check_list(value, Any, path)
    if kind not in CLASSES:
        return [Finding(path, f"object type {kind!r} is not one the emulator serves")]
    return _check_object(value, CLASSES[kind], str(kind))


def _check_value(value: Any, tp: Any, path: str) -> list[Finding]:
    if tp is Any:
        return [] if value is None else _check_any(value, path) if _is_object(value) else []
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return _check_union(value, get_args(tp), path)
    if value is None:
        return [Finding(path, "is null; this version never sends null here")]
    if origin is Literal:
        allowed = get_args(tp)
        if any(value == a and type(value) is type(a) for a in allowed):
            return []
        return [Finding(path, f"{value!r} is not one of {sorted(map(str, allowed))}")]
    if origin is list:
        if not isinstance(value, list):
            return [Finding(path, f"expected a list, got {_short(value)}")]
        (arg,) = get_args(tp) or (Any,)
        return [f for i, item in enumerate(value) for f in _check_value(item, arg, f"{path}[{i}]")]
    cls = origin or tp
    if inspect.isclass(cls) and issubclass(cls, stripe.ListObject):
        (arg,) = get_args(tp) or (Any,)
        return _check_list(value, arg, path)
    if inspect.isclass(cls) and issubclass(cls, UntypedStripeObject):
        # A free-form hash (metadata): only its values are typed.
        if not isinstance(value, dict):
            return [Finding(path, f"expected a hash, got {_short(value)}")]
        (arg,) = get_args(tp) or (Any,)
        if arg is Any:
            return []
        return [f for k, v in value.items() for f in _check_value(v, arg, f"{path}.{k}")]
    if inspect.isclass(cls) and issubclass(cls, stripe.StripeObject):
        # An embedded or expanded API object's findings are named from its type.
        return _check_object(value, cls, object_name(cls) or path)
    return _check_scalar(value, tp, path)


def _check_scalar(value: Any, tp: Any, path: str) -> list[Finding]:
    fits = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        Decimal: _is_decimal_string,
    }
    if tp not in fits:
        # A kind of declaration this checker does not know yet: say so
        # rather than let it pass unchecked.
        raise TypeError(f"no rule for {tp!r} (at {path})")
    if fits[tp](value):
        return []
    return [Finding(path, f"expected {tp.__name__}, got {_short(value)}")]


def _is_decimal_string(value: Any) -> bool:
    # Decimal fields (`unit_amount_decimal`) travel as strings.
    if not isinstance(value, str):
        return False
    try:
        Decimal(value)
    except InvalidOperation:
        return False
    return True


def _check_union(value: Any, arms: tuple[Any, ...], path: str) -> list[Finding]:
    if value is None:
        if type(None) in arms:
            return []
        return [Finding(path, "is null; this version never sends null here")]
    arms = tuple(a for a in arms if a is not type(None))
    if any(get_origin(a) is Literal for a in arms):
        arms = tuple(a for a in arms if a is not str)
    if isinstance(value, str) and str in arms:
        return _check_reference(value, arms, path)
    # Hold the value against the arms of its own JSON kind (an expanded
    # object against the object's class, not against the id it replaces).
    fitting = [arm for arm in arms if _same_kind(value, arm)] or list(arms)
    named = [arm for arm in fitting if object_name(arm) == _value_object(value)]
    results = [_check_value(value, arm, path) for arm in named or fitting]
    return min(results, key=len)


def _same_kind(value: Any, tp: Any) -> bool:
    cls = get_origin(tp) or tp
    if tp is Any:
        return True
    if isinstance(value, dict):
        return inspect.isclass(cls) and issubclass(cls, stripe.StripeObject)
    if isinstance(value, list):
        return cls is list
    if cls is Literal:
        return any(type(a) is type(value) for a in get_args(tp))
    if isinstance(value, str):
        return cls in (str, Decimal)
    return cls in (bool, int, float) and isinstance(value, cls)


def _value_object(value: Any) -> Any:
    return value.get("object") if isinstance(value, dict) else None


def _check_reference(value: str, arms: tuple[Any, ...], path: str) -> list[Finding]:
    """An unexpanded `ExpandableField`: the id must be one of the named types'."""
    prefixes = [
        ID_PREFIXES[name]
        for arm in arms
        if inspect.isclass(arm) and issubclass(arm, stripe.StripeObject)
        if (name := object_name(arm)) in ID_PREFIXES
    ]
    if not prefixes or value.startswith(tuple(prefixes)):
        return []
    return [Finding(path, f"id {value!r} does not start with {' or '.join(prefixes)}")]


def _check_list(value: Any, item_type: Any, path: str) -> list[Finding]:
    if not isinstance(value, dict) or value.get("object") != "list":
        return [Finding(path, f"expected a list object, got {_short(value)}")]
    # `data` is checked here, item by item, against the declared item type.
    fields = {**declared_fields(stripe.ListObject), "object": Literal["list"], "data": list[Any]}
    findings = _check_fields({**value, "data": []}, fields, path, owner=None)
    data = value.get("data")
    if isinstance(data, list):
        for i, item in enumerate(data):
            findings += _check_value(item, item_type, f"{path}.data[{i}]")
    return findings


def _check_object(value: Any, cls: type[stripe.StripeObject], path: str) -> list[Finding]:
    if not isinstance(value, dict):
        return [Finding(path, f"expected a {cls.__name__} object, got {_short(value)}")]
    fields = declared_fields(cls)
    # A deleted object is a stub: `id`, `object` and `deleted` only.
    kind = getattr(cls, "OBJECT_NAME", None)
    owner = kind if isinstance(kind, str) else None
    if value.get("deleted") is True:
        fields = {name: fields[name] for name in ("id", "object", "deleted") if name in fields}
    findings = _check_fields(value, fields, path, owner=owner)
    prefix = ID_PREFIXES.get(kind) if isinstance(kind, str) else None
    object_id = value.get("id")
    if prefix and isinstance(object_id, str) and not object_id.startswith(prefix):
        findings.append(Finding(f"{path}.id", f"id {object_id!r} does not start with {prefix}"))
    if cls is stripe.Event:
        findings += _check_event_data(value, path)
    return findings


def _check_fields(
    value: dict[str, Any], fields: dict[str, Any], path: str, *, owner: str | None
) -> list[Finding]:
    """`owner`: the object type, when `value` is an API object rather than a nested hash."""
    findings = [
        Finding(f"{path}.{name}", "is not declared by this API version")
        for name in value
        if name not in fields
    ]
    for name, tp in fields.items():
        if name in value:
            findings += _check_value(value[name], tp, f"{path}.{name}")
        elif not _may_be_null(tp):
            findings.append(Finding(f"{path}.{name}", "is missing; this version always sends it"))
        elif owner and f"{owner}.{name}" not in SENT_ONLY_SOMETIMES and name != "deleted":
            findings.append(Finding(f"{path}.{name}", "is missing; Stripe sends it, null if unset"))
    return findings


def _check_event_data(event: dict[str, Any], path: str) -> list[Finding]:
    """An event's `data.object` is typed loosely by the library: check it as
    the object it is, and `previous_attributes` as fields of that object."""
    data = event.get("data")
    if not isinstance(data, dict):
        return []
    snapshot = data.get("object")
    findings = _check_any(snapshot, f"{path}.data.object")
    previous = data.get("previous_attributes")
    kind = snapshot.get("object") if isinstance(snapshot, dict) else None
    if isinstance(previous, dict) and kind in CLASSES:
        fields = declared_fields(CLASSES[kind])
        for name, old in previous.items():
            where = f"{path}.data.previous_attributes.{name}"
            if name not in fields:
                findings.append(Finding(where, "is not declared by this API version"))
            elif not isinstance(old, dict):
                # Changed hashes list only their changed keys: check whole values only.
                findings += _check_value(old, fields[name], where)
    return findings


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and "object" in value


def _may_be_null(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)
