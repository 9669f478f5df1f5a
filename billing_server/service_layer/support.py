"""What support needs to answer "why can't this customer use X?": the
account's Stripe customer, its subscriptions, CheckPlan's answer for every
plan and feature, grace, its latest webhook events and its audit trail."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from billing_server.domain.accounts import Account
from billing_server.domain.audit import AuditEntry
from billing_server.domain.entitlements import Decision, FeatureRequirement, PlanRequirement
from billing_server.domain.stored_events import StoredEvent
from billing_server.domain.subscriptions import Subscription
from billing_server.service_layer import validation
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan


class SupportQueries(Protocol):
    def account(self, account_id: str) -> Account | None: ...

    def subscriptions(self, account_id: str) -> list[Subscription]:
        """Oldest first."""
        ...

    def events(
        self,
        account_id: str,
        customer_ids: Collection[str],
        subscription_ids: Collection[str],
        limit: int,
    ) -> list[StoredEvent]:
        """The latest first: by the customers, the subscriptions, or the
        checkout that named the account."""
        ...

    def audit(self, account_id: str, limit: int) -> list[AuditEntry]:
        """The latest first."""
        ...


@dataclass(frozen=True)
class AccountOverview:
    account_id: str
    account: Account | None
    subscriptions: list[Subscription]
    # ("plan" or "feature", name, CheckPlan's answer), plans by rank, then features.
    answers: list[tuple[str, str, Decision]]
    events: list[StoredEvent]
    audit: list[AuditEntry]

    @property
    def known(self) -> bool:
        return self.account is not None or bool(self.subscriptions) or bool(self.events)

    @property
    def customer_ids(self) -> list[str]:
        return _customer_ids(self.account, self.subscriptions)


def _customer_ids(account: Account | None, subscriptions: list[Subscription]) -> list[str]:
    """The linked customer first, then any other its subscriptions name."""
    linked = [account.customer_id] if account else []
    seen = [*linked, *(s.customer_id for s in subscriptions)]
    return list(dict.fromkeys(c for c in seen if c))


def account_overview(
    deps: Dependencies, queries: SupportQueries, account_id: str, limit: int = 20
) -> AccountOverview:
    validation.account_id(account_id)
    account = queries.account(account_id)
    subscriptions = queries.subscriptions(account_id)
    customers = _customer_ids(account, subscriptions)
    features = sorted({f for plan in deps.catalog.plans for f in plan.features})
    answers = [
        ("plan", plan.name, check_plan(deps, account_id, PlanRequirement(plan.name)).decision)
        for plan in deps.catalog.plans
    ] + [
        ("feature", name, check_plan(deps, account_id, FeatureRequirement(name)).decision)
        for name in features
    ]
    return AccountOverview(
        account_id=account_id,
        account=account,
        subscriptions=subscriptions,
        answers=answers,
        events=queries.events(account_id, customers, [s.id for s in subscriptions], limit),
        audit=queries.audit(account_id, limit),
    )
