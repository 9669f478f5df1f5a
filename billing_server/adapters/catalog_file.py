"""Loads the plan catalogue from its TOML file."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from billing_server.config import ConfigError
from billing_server.domain.plans import (
    DEFAULT_MAX_TRIAL_DAYS,
    Catalog,
    Plan,
    PlanPrice,
    StatusPolicy,
)
from billing_server.domain.subscriptions import SubscriptionStatus


class CatalogError(ConfigError):
    """The plans file cannot be used; the message says where and why."""


def load_catalog(path: Path) -> Catalog:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"cannot read plans file {path}: {exc}") from exc
    try:
        return parse_catalog(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"invalid plans file {path}: {exc}") from exc


def parse_catalog(data: dict[str, Any]) -> Catalog:
    plans = [_plan(entry) for entry in data.get("plans", [])]
    if not plans:
        raise ValueError("no [[plans]] defined")
    policy = data.get("policy", {})
    return Catalog(
        plans=plans,
        policy=_policy(policy),
        max_trial_days=_days(policy, "max_trial_days", DEFAULT_MAX_TRIAL_DAYS, "policy"),
    )


def _plan(entry: dict[str, Any]) -> Plan:
    name = _text(entry, "name")
    price = entry.get("price")
    lookup_key = entry.get("price_lookup_key")
    price_id = entry.get("price_id")
    if lookup_key is not None and price_id is not None:
        raise ValueError(f"plan {name!r}: give price_lookup_key or price_id, not both")
    if price is not None and lookup_key is None:
        raise ValueError(f"plan {name!r}: a price needs a price_lookup_key to be synced")
    features = entry.get("features", [])
    if not all(isinstance(f, str) and f for f in features):
        raise ValueError(f"plan {name!r}: features must be non-empty strings")
    limits = entry.get("limits", {})
    if not isinstance(limits, dict) or not all(
        isinstance(k, str) and k and type(v) is int and v >= 0 for k, v in limits.items()
    ):
        raise ValueError(f"plan {name!r}: limits must map names to whole numbers >= 0")
    return Plan(
        name=name,
        display_name=str(entry.get("display_name", name)),
        rank=int(entry["rank"]),
        features=frozenset(features),
        limits=tuple(sorted(limits.items())),
        price_lookup_key=lookup_key,
        price_id=price_id,
        price=PlanPrice(
            unit_amount=int(price["unit_amount"]),
            currency=str(price.get("currency", "usd")),
            interval=str(price.get("interval", "month")),
        )
        if price is not None
        else None,
        trial_days=_days(entry, "trial_days", 0, f"plan {name!r}"),
    )


def _days(entry: dict[str, Any], key: str, default: int, where: str) -> int:
    # The catalogue itself bounds the number (0 to Stripe's maximum).
    value = entry.get(key, default)
    if type(value) is not int:
        raise ValueError(f"{where}: {key} must be a whole number of days")
    return value


def _policy(entry: dict[str, Any]) -> StatusPolicy:
    default = StatusPolicy()
    return StatusPolicy(
        allowed=_statuses(entry.get("allowed_statuses"), default.allowed),
        grace=_statuses(entry.get("grace_statuses"), default.grace),
        grace_period=timedelta(days=float(entry.get("grace_period_days", 7))),
    )


def _statuses(
    values: list[str] | None, default: frozenset[SubscriptionStatus]
) -> frozenset[SubscriptionStatus]:
    if values is None:
        return default
    return frozenset(SubscriptionStatus(v) for v in values)


def _text(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"every plan needs a non-empty {key!r}")
    return value
