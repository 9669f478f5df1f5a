"""The plan catalogue the fake answers from: the server's plans file, read
the way the server reads it (plans, their limits, and which statuses entitle
for how long)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from billing_client._types import Plan, SubscriptionStatus

# The server's default, when a plans file names no grace period.
DEFAULT_GRACE_PERIOD = timedelta(days=7)
DEFAULT_MAX_TRIAL_DAYS = 30


@dataclass(frozen=True)
class FakeCatalog:
    plans: tuple[Plan, ...]
    limits: dict[str, dict[str, int]] = field(default_factory=dict)
    allowed: frozenset[SubscriptionStatus] = frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}
    )
    grace: frozenset[SubscriptionStatus] = frozenset({SubscriptionStatus.PAST_DUE})
    grace_period: timedelta = DEFAULT_GRACE_PERIOD
    # Each plan's own trial (days; absent: none), and the longest a checkout may ask for.
    trial_days: dict[str, int] = field(default_factory=dict)
    max_trial_days: int = DEFAULT_MAX_TRIAL_DAYS


def load_catalog(path: Path | None = None) -> FakeCatalog:
    """The catalogue in ``path`` (a plans file as PAYMENTSVC_PLANS_FILE
    names one); without it, the copy of the service's default catalogue."""
    if path is None:
        text = resources.files("billing_client.catalog").joinpath("plans.toml").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse_catalog(tomllib.loads(text))


def parse_catalog(data: dict[str, Any]) -> FakeCatalog:
    entries = data.get("plans", [])
    plans = tuple(
        Plan(
            name=str(entry["name"]),
            display_name=str(entry.get("display_name", entry["name"])),
            rank=int(entry["rank"]),
            features=tuple(sorted(entry.get("features", []))),
            purchasable="price_lookup_key" in entry or "price_id" in entry,
        )
        for entry in entries
    )
    limits = {
        str(e["name"]): {str(k): int(v) for k, v in e.get("limits", {}).items()} for e in entries
    }
    policy = data.get("policy", {})
    default = FakeCatalog(plans=())
    return FakeCatalog(
        plans=plans,
        limits=limits,
        allowed=_statuses(policy.get("allowed_statuses"), default.allowed),
        grace=_statuses(policy.get("grace_statuses"), default.grace),
        grace_period=timedelta(days=float(policy.get("grace_period_days", 7))),
        trial_days={str(e["name"]): int(e["trial_days"]) for e in entries if "trial_days" in e},
        max_trial_days=int(policy.get("max_trial_days", DEFAULT_MAX_TRIAL_DAYS)),
    )


def _statuses(
    values: list[str] | None, default: frozenset[SubscriptionStatus]
) -> frozenset[SubscriptionStatus]:
    return default if values is None else frozenset(SubscriptionStatus(v) for v in values)
