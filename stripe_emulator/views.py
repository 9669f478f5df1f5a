"""Rendering stored objects as API responses: private keys out, expansions in."""

from __future__ import annotations

import copy
from typing import Any

from stripe_emulator.errors import StripeError
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.catalog import plan
from stripe_emulator.store import Store

MAX_EXPAND_DEPTH = 4


def render(store: Store, obj: JSON) -> JSON:
    """A deep copy of `obj` as the API shows it right now."""
    out = copy.deepcopy(obj)
    _make_public(store, out)
    return out


def _make_public(store: Store, node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _make_public(store, item)
        return
    if not isinstance(node, dict):
        return
    if node.get("object") == "event":
        return  # an event's data is a historical snapshot: never refresh it
    for key in [key for key in node if key.startswith("_")]:
        del node[key]
    if node.get("object") == "subscription_item":
        # Stripe embeds the price as it is now (e.g. after its lookup_key was
        # transferred away), not as it was when the item was created.
        current = store.get("price", node["price"]["id"])
        if current is not None:
            node["price"] = copy.deepcopy(current)
            node["plan"] = plan(current)
    for value in node.values():
        _make_public(store, value)


def expand(store: Store, obj: JSON, paths: list[str]) -> JSON:
    """Replace the ids named by `expand[]` paths with the objects they name."""
    for path in paths:
        segments = path.split(".")
        if len(segments) > MAX_EXPAND_DEPTH:
            raise StripeError(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a "
                f"property. Property: {path}",
                param="expand",
            )
        _expand(store, obj, segments, path)
    return obj


def _cannot_expand(path: str) -> StripeError:
    return StripeError(f"This property cannot be expanded ({path}).", param="expand")


def _expand(store: Store, node: Any, segments: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(store, item, segments, path)
        return
    if not isinstance(node, dict) or segments[0] not in node:
        raise _cannot_expand(path)
    key, rest = segments[0], segments[1:]
    value = node[key]
    if isinstance(value, str):
        # Expanding `subscription.latest_invoice` expands `subscription` too.
        found = store.find(value)
        if found is None:
            if rest:
                raise _cannot_expand(path)
            return
        value = node[key] = render(store, found)
    elif (value is not None and not isinstance(value, (dict, list))) or (
        not rest and isinstance(value, dict) and value.get("object") == "list"
    ):
        raise _cannot_expand(path)
    if rest and value is not None:
        _expand(store, value, rest, path)
