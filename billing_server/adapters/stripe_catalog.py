"""Stripe products and prices, for syncing the plan catalogue (operators only)."""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from billing_server.adapters.stripe_calls import StripeCalls
from billing_server.domain.plans import Plan, PlanPrice


@dataclass(frozen=True)
class StripePrice:
    id: str
    unit_amount: int | None
    currency: str
    interval: str | None
    product_id: str


class StripeCatalog:
    def __init__(self, client: stripe.StripeClient, calls: StripeCalls) -> None:
        self._stripe = client
        self._call = calls

    def price_by_lookup_key(self, lookup_key: str) -> StripePrice | None:
        prices = self._call(
            "find price",
            lambda: self._stripe.v1.prices.list(
                {"lookup_keys": [lookup_key], "active": True, "limit": 1}
            ),
        )
        if not prices.data:
            return None
        price = prices.data[0].to_dict()
        recurring = price.get("recurring")
        return StripePrice(
            id=price["id"],
            unit_amount=price.get("unit_amount"),
            currency=price["currency"],
            interval=recurring["interval"] if recurring else None,
            product_id=str(price["product"]),
        )

    def create_product(self, plan: Plan) -> str:
        product = self._call(
            "create product",
            lambda: self._stripe.v1.products.create(
                {"name": plan.display_name, "metadata": {"plan": plan.name}}
            ),
        )
        return str(product.id)

    def create_price(
        self, product_id: str, lookup_key: str, price: PlanPrice, *, transfer: bool
    ) -> str:
        created = self._call(
            "create price",
            lambda: self._stripe.v1.prices.create(
                {
                    "product": product_id,
                    "currency": price.currency,
                    "unit_amount": price.unit_amount,
                    "recurring": {"interval": price.interval},
                    "lookup_key": lookup_key,
                    "transfer_lookup_key": transfer,
                }
            ),
        )
        return str(created.id)
