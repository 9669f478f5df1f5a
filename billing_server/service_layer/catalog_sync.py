"""Making Stripe's products and prices match the plan catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from billing_server.adapters.stripe_catalog import StripePrice
from billing_server.domain.plans import Catalog, Plan, PlanPrice


class CatalogPort(Protocol):
    """Stripe's products and prices, as the sync reads and writes them."""

    def price_by_lookup_key(self, lookup_key: str) -> StripePrice | None: ...

    def create_product(self, plan: Plan) -> str: ...

    def create_price(
        self, product_id: str, lookup_key: str, price: PlanPrice, *, transfer: bool
    ) -> str: ...


@dataclass(frozen=True)
class CatalogChange:
    plan: str
    action: str  # "create", "replace price" or "unchanged"
    detail: str


def sync_catalog(catalog: Catalog, stripe: CatalogPort, *, dry_run: bool) -> list[CatalogChange]:
    """Creates what is missing. Stripe prices cannot change their amount, so a
    changed price is replaced by a new one that takes over the lookup key."""
    changes: list[CatalogChange] = []
    for plan in catalog.plans:
        if plan.price is None or plan.price_lookup_key is None:
            continue
        wanted = plan.price
        key = plan.price_lookup_key
        existing = stripe.price_by_lookup_key(key)
        described = f"{wanted.unit_amount} {wanted.currency}/{wanted.interval} as {key!r}"
        if existing is None:
            changes.append(CatalogChange(plan.name, "create", described))
            if not dry_run:
                product_id = stripe.create_product(plan)
                stripe.create_price(product_id, key, wanted, transfer=False)
        elif (existing.unit_amount, existing.currency, existing.interval) != (
            wanted.unit_amount,
            wanted.currency,
            wanted.interval,
        ):
            was = f"{existing.unit_amount} {existing.currency}/{existing.interval}"
            changes.append(CatalogChange(plan.name, "replace price", f"{was} -> {described}"))
            if not dry_run:
                stripe.create_price(existing.product_id, key, wanted, transfer=True)
        else:
            changes.append(CatalogChange(plan.name, "unchanged", f"{existing.id} {described}"))
    return changes
