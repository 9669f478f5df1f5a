"""A renewal day: S subscriptions renew at once, five events each, in any order.

Subscription n has five events, `created` one second apart around its
renewal R = base + 2:

    base+0  customer.subscription.updated   the old period
    base+1  customer.subscription.updated   the old period, another state
    base+2  invoice.payment_succeeded        the renewal invoice, paid
    base+3  customer.subscription.updated   the new period
    base+4  customer.subscription.updated   the new period: the final state

Every state (status, plan, cancel_at_period_end) is drawn from a generator
seeded by the subscription, so the generator processes and the emulator's
seed agree without talking. The final payload *is* the subscription the
emulator holds, so every fetch answers the true final state. Objects are
built with the emulator's own builders, in the pinned API version's shape
(the billing period on the item, the invoice's subscription under
`parent.subscription_details`).

Deliveries: every event once and a tenth of them twice, shuffled.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from functools import cache, lru_cache

from bench._webhook_events import WEBHOOK_SECRET, sign
from stripe_emulator.events import previous_attributes
from stripe_emulator.jsontypes import JSON
from stripe_emulator.objects.catalog import price, product, recurring
from stripe_emulator.objects.customer import customer
from stripe_emulator.objects.invoice import invoice, invoice_line
from stripe_emulator.objects.subscription import subscription, subscription_item
from stripe_emulator.objects.webhook import event
from stripe_emulator.periods import days
from stripe_emulator.store import Store

EVENTS_PER_SUBSCRIPTION = 5
DUPLICATE_SHARE = 0.10
# An event's slot is also its `created`, in seconds after its subscription's
# base; the invoice is slot 2, the four subscription versions the others.
INVOICE_SLOT = 2
_VERSION_SLOTS = (0, 1, 3, 4)
# The plans of billing_server/catalog/plans.toml that have a price.
PLANS = {
    "pro": ("paymentsvc_pro_monthly", 2000),
    "enterprise": ("paymentsvc_enterprise_monthly", 9900),
}
_STATUSES = ("active", "active", "past_due", "trialing", "unpaid")
_MONTH = days(30)
_CATALOG_CREATED = 1_700_000_000


def price_id(plan: str) -> str:
    return f"price_rd_{plan}"


@dataclass(frozen=True)
class RenewalDay:
    run_tag: str
    subscriptions: int
    # Subscription n's base is base_created + n % 3600: renewals spread over
    # an hour, all in the past, as when a backlog of them arrives at once.
    base_created: int
    # stripe.api_version, the pinned one; given rather than imported, so that
    # the generator processes need not import the stripe library.
    api_version: str

    @property
    def events(self) -> int:
        return self.subscriptions * EVENTS_PER_SUBSCRIPTION

    @property
    def subscription_id_prefix(self) -> str:
        return f"sub_rd_{self.run_tag}_"

    @property
    def event_id_prefix(self) -> str:
        return f"evt_rd_{self.run_tag}_"

    def subscription_id(self, n: int) -> str:
        return f"{self.subscription_id_prefix}{n:06d}"

    def account_id(self, n: int) -> str:
        return f"acct_rd_{self.run_tag}_{n:06d}"

    def event_id(self, e: int) -> str:
        """Event e is slot e % 5 of subscription e // 5."""
        n, slot = divmod(e, EVENTS_PER_SUBSCRIPTION)
        return f"{self.event_id_prefix}{n:06d}_{slot}"

    def subscription_version(self, n: int, version: int) -> JSON:
        """Subscription n as event slot 0, 1, 3 or 4 shows it (version 0-3)."""
        draws = _draws(self.run_tag, n)
        base = self._base(n)
        renewal = base + 2
        period = (renewal - _MONTH, renewal) if version < 2 else (renewal, renewal + _MONTH)
        status, plan, cancel = draws[version]
        sub_id = self.subscription_id(n)
        created = base - 3 * _MONTH
        item = subscription_item(
            f"si_rd_{self.run_tag}_{n:06d}",
            created,
            subscription_id=sub_id,
            price_obj=_price(plan),
            quantity=1,
            period=period,
        )
        sub = subscription(
            sub_id,
            created,
            customer_id=self._customer_id(n),
            items=[item],
            currency="usd",
            status=status,
            billing_cycle_anchor=created,
            trial=period if status == "trialing" else None,
            metadata={"account_id": self.account_id(n)},
        )
        if cancel:
            at = base + _VERSION_SLOTS[version]
            sub.update(cancel_at_period_end=True, cancel_at=period[1], canceled_at=at)
            sub["cancellation_details"]["reason"] = "cancellation_requested"
        if version >= 2:
            sub["latest_invoice"] = self._invoice_id(n)
        return sub

    def final_subscription(self, n: int) -> JSON:
        return self.subscription_version(n, 3)

    def event_body(self, e: int) -> bytes:
        n, slot = divmod(e, EVENTS_PER_SUBSCRIPTION)
        created = self._base(n) + slot
        if slot == INVOICE_SLOT:
            kind, snapshot, previous = "invoice.payment_succeeded", self._paid_invoice(n), None
        else:
            version = _VERSION_SLOTS.index(slot)
            snapshot = self.subscription_version(n, version)
            kind = "customer.subscription.updated"
            before = self.subscription_version(n, version - 1) if version else None
            previous = previous_attributes(before, snapshot) if before else None
        body = event(
            self.event_id(e),
            created,
            event_type=kind,
            snapshot=snapshot,
            previous_attributes=previous,
            api_version=self.api_version,
            request_id=None,
            idempotency_key=None,
            pending_webhooks=1,
        )
        return json.dumps(body, separators=(",", ":")).encode()

    def seed(self, store: Store) -> None:
        """Puts the products, prices, customers and final subscriptions into the
        emulator's store directly. This bypasses the API only for speed (tens
        of thousands of objects in a second): they are built by the same
        builders the API uses, and served by its GET handlers unchanged."""
        with store.lock:
            for plan in PLANS:
                store.insert(_product(plan))
                store.insert(_price(plan))
            for n in range(self.subscriptions):
                store.insert(self._customer(n))
                store.insert(self.final_subscription(n))

    def _base(self, n: int) -> int:
        return self.base_created + n % 3600

    def _customer_id(self, n: int) -> str:
        return f"cus_rd_{self.run_tag}_{n:06d}"

    def _invoice_id(self, n: int) -> str:
        return f"in_rd_{self.run_tag}_{n:06d}"

    def _customer(self, n: int) -> JSON:
        # Personal data as Stripe sends it: the server must drop it.
        return customer(
            self._customer_id(n),
            self._base(n) - 3 * _MONTH,
            email=f"renewal-{n}@example.com",
            name=f"Customer {n}",
            description=None,
            metadata={"account_id": self.account_id(n)},
        )

    def _paid_invoice(self, n: int) -> JSON:
        renewal = self._base(n) + 2
        sub = self.subscription_version(n, 2)
        invoice_id = self._invoice_id(n)
        item = sub["items"]["data"][0]
        line = invoice_line(
            f"il_rd_{self.run_tag}_{n:06d}",
            invoice_id=invoice_id,
            subscription_id=sub["id"],
            item=item,
            amount=item["price"]["unit_amount"],
            period=(renewal, renewal + _MONTH),
            description=f"1 x {item['price']['product']}",
            proration=False,
        )
        paid = invoice(
            invoice_id,
            renewal,
            customer=self._customer(n),
            subscription=sub,
            lines=[line],
            billing_reason="subscription_cycle",
            period=(renewal - _MONTH, renewal),
            number=f"RD{n:06d}-0002",
        )
        paid.update(
            status="paid",
            attempted=True,
            amount_paid=paid["amount_due"],
            amount_remaining=0,
            attempt_count=1,
        )
        paid["status_transitions"]["paid_at"] = renewal
        return paid


@dataclass(frozen=True)
class RenewalDeliveries:
    """The i-th delivery of the day: its body and a signature made as it goes out."""

    day: RenewalDay
    secret: str = WEBHOOK_SECRET

    def __call__(self, i: int) -> tuple[bytes, str]:
        body = self.day.event_body(delivery_order(self.day)[i])
        return body, sign(body, self.secret, int(time.time()))


@lru_cache(maxsize=2)
def delivery_order(day: RenewalDay) -> list[int]:
    """Event numbers (n * 5 + slot) in the order they are delivered."""
    shuffler = random.Random(f"{day.run_tag}:deliveries")
    events = list(range(day.events))
    order = events + shuffler.sample(events, round(day.events * DUPLICATE_SHARE))
    shuffler.shuffle(order)
    return order


@cache
def _draws(run_tag: str, n: int) -> tuple[tuple[str, str, bool], ...]:
    """(status, plan, cancel_at_period_end) of versions 0-3; version 2 always
    differs from the final one in cancel_at_period_end, and versions 0-1 in
    their period, so that a state left behind by any earlier event shows."""
    rng = random.Random(f"{run_tag}:{n}")
    draws = [(rng.choice(_STATUSES), rng.choice(list(PLANS)), rng.random() < 0.3) for _ in range(4)]
    status, plan, _ = draws[2]
    draws[2] = (status, plan, not draws[3][2])
    return tuple(draws)


def _product(plan: str) -> JSON:
    return product(
        f"prod_rd_{plan}",
        _CATALOG_CREATED,
        name=plan.title(),
        description=None,
        active=True,
        metadata={},
    )


def _price(plan: str) -> JSON:
    lookup_key, amount = PLANS[plan]
    return price(
        price_id(plan),
        _CATALOG_CREATED,
        product_id=f"prod_rd_{plan}",
        currency="usd",
        unit_amount=amount,
        recurring=recurring("month", 1),
        lookup_key=lookup_key,
        nickname=None,
        active=True,
        metadata={},
    )
