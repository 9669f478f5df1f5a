"""How the pages write prices and times."""

from __future__ import annotations

from datetime import UTC, datetime

from stripe_emulator.jsontypes import JSON
from stripe_emulator.store import Store

# Currencies Stripe counts in whole units (no cents).
_ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "pyg", "ugx", "xof", "xaf"})


def amount(cents: int, currency: str) -> str:
    if currency in _ZERO_DECIMAL:
        return f"{cents} {currency.upper()}"
    return f"{cents / 100:.2f} {currency.upper()}"


def product_name(store: Store, price_obj: JSON) -> str:
    product = store.get("product", price_obj["product"])
    return str(product["name"]) if product else str(price_obj["product"])


def price(price_obj: JSON) -> str:
    """`10.00 USD / month`, `100.00 USD / 3 months`, `5.00 USD`."""
    text = amount(price_obj["unit_amount"] or 0, price_obj["currency"])
    recurring = price_obj["recurring"]
    if recurring is None:
        return text
    count, interval = recurring["interval_count"], recurring["interval"]
    return f"{text} / {interval}" if count == 1 else f"{text} / {count} {interval}s"


def moment(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
