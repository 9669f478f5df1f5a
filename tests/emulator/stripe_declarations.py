"""What the installed `stripe` library declares about each object type.

The library is generated from Stripe's OpenAPI spec for the API version it
pins; each field is a class attribute whose annotation names its type. Some
annotations are quoted names (`"Customer"`) imported only for type checkers,
so they are resolved here with the module's `if TYPE_CHECKING:` imports.
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
import typing
from functools import cache
from typing import Any, ClassVar, TypeVar, get_args, get_origin

import stripe

# The object types the emulator serves, by their `object` value.
CLASSES: dict[str, type[stripe.StripeObject]] = {
    "billing_portal.session": stripe.billing_portal.Session,
    "checkout.session": stripe.checkout.Session,
    "customer": stripe.Customer,
    "event": stripe.Event,
    "invoice": stripe.Invoice,
    "item": stripe.LineItem,
    "line_item": stripe.InvoiceLineItem,
    "plan": stripe.Plan,
    "price": stripe.Price,
    "product": stripe.Product,
    "subscription": stripe.Subscription,
    "subscription_item": stripe.SubscriptionItem,
    "test_helpers.test_clock": stripe.test_helpers.TestClock,
    "webhook_endpoint": stripe.WebhookEndpoint,
}

# The prefix of each type's generated ids (a plan's id is its price's).
ID_PREFIXES = {
    "billing_portal.configuration": "bpc_",
    "billing_portal.session": "bps_",
    "checkout.session": "cs_test_",
    "customer": "cus_",
    "event": "evt_",
    "invoice": "in_",
    "item": "li_",
    "line_item": "il_",
    "payment_method": "pm_",
    "plan": "price_",
    "price": "price_",
    "product": "prod_",
    "subscription": "sub_",
    "subscription_item": "si_",
    "test_helpers.test_clock": "clock_",
    "webhook_endpoint": "we_",
}


def object_name(tp: Any) -> str | None:
    """The `object` value of a resource class (`"subscription"`), else None."""
    name = getattr(tp, "OBJECT_NAME", None)
    return name if isinstance(name, str) else None


_FIELDS: dict[type, dict[str, Any]] = {}


def declared_fields(cls: type) -> dict[str, Any]:
    """The fields `cls` itself declares, with their annotations resolved."""
    if cls not in _FIELDS:
        _FIELDS[cls] = _resolve_fields(cls)
    return _FIELDS[cls]


def _resolve_fields(cls: type) -> dict[str, Any]:
    own = inspect.get_annotations(cls)
    module = sys.modules[cls.__module__]
    # Resolve only the class's own annotations: the library's base classes
    # annotate internals with names that are never imported at run time.
    holder = type(cls.__name__, (), {"__annotations__": own, "__module__": cls.__module__})
    hints = typing.get_type_hints(
        holder, globalns=vars(module), localns=_type_checking_names(module)
    )
    return {
        name: _bind_type_vars(tp)
        for name, tp in hints.items()
        if not name.startswith("_") and get_origin(tp) is not ClassVar
    }


def _bind_type_vars(tp: Any) -> Any:
    # ListObject declares `data: List[T]`; its items are checked by `object`.
    if isinstance(tp, TypeVar):
        return Any
    args = get_args(tp)
    if get_origin(tp) is list and args and isinstance(args[0], TypeVar):
        return list[Any]
    return tp


@cache
def _type_checking_names(module: types.ModuleType) -> dict[str, Any]:
    """What the module imports under `if TYPE_CHECKING:`, which its quoted
    annotations (`"Customer"`) name but which it never imports at run time."""
    tree = ast.parse(inspect.getsource(module))
    names: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            # The library's own import lines, run as they would be for a type checker.
            code = compile(ast.Module(body=node.body, type_ignores=[]), module.__name__, "exec")
            exec(code, names)
    names.pop("__builtins__", None)
    return names
