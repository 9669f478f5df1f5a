"""What support needs to answer "why can't this customer use X?": the
account's Stripe customer, its subscriptions, CheckPlan's answer for every
plan and feature, grace, its latest webhook events and its audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from billing_server.adapters.orm import AccountRow, AuditLogRow, StripeEventRow, SubscriptionRow
from billing_server.adapters.support_queries import SqlSupportQueries
from billing_server.domain.entitlements import Decision, FeatureRequirement, PlanRequirement
from billing_server.service_layer import validation
from billing_server.service_layer.dependencies import Dependencies
from billing_server.service_layer.entitlement_checks import check_plan


@dataclass(frozen=True)
class AccountOverview:
    account_id: str
    account: AccountRow | None
    subscriptions: list[SubscriptionRow]
    # ("plan" or "feature", name, CheckPlan's answer), plans by rank, then features.
    answers: list[tuple[str, str, Decision]]
    events: list[StripeEventRow]
    audit: list[AuditLogRow]

    @property
    def known(self) -> bool:
        return self.account is not None or bool(self.subscriptions) or bool(self.events)

    @property
    def customer_ids(self) -> list[str]:
        linked = [self.account.stripe_customer_id] if self.account else []
        seen = [*linked, *(s.stripe_customer_id for s in self.subscriptions)]
        return list(dict.fromkeys(c for c in seen if c))


def account_overview(
    deps: Dependencies, queries: SqlSupportQueries, account_id: str, limit: int = 20
) -> AccountOverview:
    validation.account_id(account_id)
    account = queries.account(account_id)
    subscriptions = queries.subscriptions(account_id)
    customers = [account.stripe_customer_id] if account and account.stripe_customer_id else []
    customers += [s.stripe_customer_id for s in subscriptions]
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
        events=queries.events(
            account_id, customers, [s.stripe_subscription_id for s in subscriptions], limit
        ),
        audit=queries.audit(account_id, limit),
    )
