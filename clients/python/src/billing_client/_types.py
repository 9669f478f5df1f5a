"""The library's own result types: frozen dataclasses and str-valued enums.

Callers never see protobuf messages; enum values are the lower-case names
Stripe uses, so they read well in logs and JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SubscriptionStatus(StrEnum):
    """Stripe's subscription statuses, plus NONE (never subscribed)."""

    UNKNOWN = "unknown"
    NONE = "none"
    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"


class DenialReason(StrEnum):
    """Why a check was denied (a PlanCheck's denial_reason is None when allowed)."""

    UNKNOWN = "unknown"
    NO_SUBSCRIPTION = "no_subscription"
    PLAN_TOO_LOW = "plan_too_low"
    FEATURE_NOT_INCLUDED = "feature_not_included"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    PAYMENT_OVERDUE = "payment_overdue"
    SUBSCRIPTION_INACTIVE = "subscription_inactive"


class Proration(StrEnum):
    """Stripe's proration_behavior for change_plan (None: the server's default)."""

    CREATE_PRORATIONS = "create_prorations"
    ALWAYS_INVOICE = "always_invoice"
    NONE = "none"


class CancellationTiming(StrEnum):
    """When a cancellation takes effect."""

    AT_PERIOD_END = "at_period_end"
    IMMEDIATELY = "immediately"


class AnswerSource(StrEnum):
    """Where a PlanCheck came from: the server, or a failure-policy fallback."""

    SERVER = "server"
    # The billing service was unreachable; the last known answer was served.
    STALE = "stale"
    # The billing service was unreachable and the policy let the call through.
    FAIL_OPEN = "fail_open"


@dataclass(frozen=True, slots=True)
class PlanCheck:
    """The answer of CheckPlan: may the account use a plan or feature now?

    ``plan`` is the plan the account is entitled to now (None when none);
    ``required_plan`` the lowest plan that would satisfy the requirement when
    denied. ``valid_until`` is when the answer expires if nothing changes
    (None: until the next change). ``state_version``/``state_updated_at`` grow
    with every change to the account, to tell stale answers from current ones.
    ``stale`` is True when the server had lost touch with its database and
    answered from what it knew at ``known_current_at`` (see ``FailurePolicy``).
    All datetimes are timezone-aware (UTC).
    """

    allowed: bool
    denial_reason: DenialReason | None
    plan: str | None
    status: SubscriptionStatus
    current_period_end: datetime | None = None
    valid_until: datetime | None = None
    grace_period_end: datetime | None = None
    state_version: int = 0
    state_updated_at: datetime | None = None
    required_plan: str | None = None
    source: AnswerSource = AnswerSource.SERVER
    stale: bool = False
    known_current_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Entitlements:
    """Everything an account may use now (GetEntitlements): its plan and
    rank, every feature, and the plan's numeric limits. ``denial_reason`` says
    why the subscription gives no paid plan (None when it does). Freshness
    fields are as in ``PlanCheck``."""

    plan: str | None
    plan_rank: int
    status: SubscriptionStatus
    features: frozenset[str]
    limits: dict[str, int]
    valid_until: datetime | None = None
    current_period_end: datetime | None = None
    grace_period_end: datetime | None = None
    denial_reason: DenialReason | None = None
    state_version: int = 0
    state_updated_at: datetime | None = None
    stale: bool = False
    known_current_at: datetime | None = None

    def allows(self, feature: str) -> bool:
        return feature in self.features


@dataclass(frozen=True, slots=True)
class Plan:
    """One entry of the catalogue; a higher rank satisfies lower requirements."""

    name: str
    display_name: str
    rank: int
    features: tuple[str, ...]
    purchasable: bool


@dataclass(frozen=True, slots=True)
class Subscription:
    """The billing state of one account."""

    account_id: str
    plan: str
    status: SubscriptionStatus
    stripe_customer_id: str
    stripe_subscription_id: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    past_due_since: datetime | None
    state_version: int
    state_updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """A Stripe Checkout Session: send the customer's browser to ``url``."""

    session_id: str
    url: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A Stripe billing portal session for the account."""

    url: str
