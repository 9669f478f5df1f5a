"""`billing-admin preflight`: the configuration checks plus live ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from billing_server.bootstrap import (
    plans,
    schema_revisions_at_head,
    stripe_gateway,
    webhook_endpoints,
)
from billing_server.config import Settings
from billing_server.domain.errors import BillingError
from billing_server.domain.plans import Plan
from billing_server.production_checks import configuration_problems
from billing_server.service_layer.webhook_endpoint_setup import receiving_endpoints


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


def run_preflight(settings: Settings, webhook_url: str | None = None) -> list[CheckResult]:
    problems = configuration_problems(settings)
    results = [
        CheckResult(
            "configuration is fit for production",
            not problems,
            "; ".join(problems),
        )
    ]
    gateway = stripe_gateway(settings)
    results.append(_check("database reachable and migrated to head", lambda: _database(settings)))
    results.append(
        _check("Stripe reachable with this key", lambda: _stripe(settings, gateway.check_key))
    )
    results.append(
        _check(
            "every catalogue price exists in Stripe",
            lambda: _prices(settings, gateway.price_id_for),
        )
    )
    endpoints = webhook_endpoints(settings)
    results.append(
        _check(
            "a webhook endpoint receives the six events in the pinned API version",
            lambda: receiving_endpoints(endpoints.all(), webhook_url),
        )
    )
    return results


def _check(name: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, True, probe())
    except (BillingError, OSError, ValueError) as exc:
        return CheckResult(name, False, str(exc))
    except Exception as exc:
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


def _database(settings: Settings) -> str:
    return ", ".join(sorted(schema_revisions_at_head(settings)))


def _stripe(settings: Settings, check_key: Callable[[], None]) -> str:
    check_key()
    mode = "live" if settings.stripe_api_key.startswith(("sk_live_", "rk_live_")) else "test"
    return f"{mode} mode"


def _prices(settings: Settings, price_id_for: Callable[[Plan], str]) -> str:
    catalog = plans(settings)
    found = [f"{plan.name}={price_id_for(plan)}" for plan in catalog.purchasable]
    return ", ".join(found) or "no priced plans"
