"""Typed client of paymentsvc's billing API, with plan protection.

``BillingClient``/``AsyncBillingClient`` call the service; ``requires_plan``
and ``requires_feature`` (and their gRPC and ASGI adapters) protect code
behind a plan, through a cache with a failure policy, kept fresh by an
optional entitlement watch; ``billing_client.testing``
has an in-memory fake for tests. The generated stubs stay in ``billing.v1``.
"""

from billing_client._adapters import (
    asgi_requires_feature,
    asgi_requires_plan,
    grpc_requires_feature,
    grpc_requires_plan,
)
from billing_client._aio import AsyncBillingClient
from billing_client._aio_watch import AsyncEntitlementWatch
from billing_client._cache import PlanCache
from billing_client._channel import TLS
from billing_client._client import BillingClient
from billing_client._decorators import (
    AsyncPlanChecker,
    PlanChecker,
    configure,
    requires_feature,
    requires_plan,
)
from billing_client._errors import (
    Aborted,
    AlreadyExists,
    BillingError,
    DeadlineExceeded,
    EntitlementRequired,
    FailedPrecondition,
    FeatureRequired,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PlanRequired,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    from_rpc_error,
    is_transient,
)
from billing_client._metadata import current_request_id, request_context
from billing_client._policy import (
    FAIL_CLOSED,
    FAIL_OPEN,
    FailureMode,
    FailurePolicy,
    serve_stale,
)
from billing_client._stats import CacheStats
from billing_client._types import (
    AnswerSource,
    CancellationTiming,
    CheckoutSession,
    DenialReason,
    Entitlements,
    Plan,
    PlanCheck,
    PortalSession,
    Proration,
    Subscription,
    SubscriptionStatus,
)
from billing_client._watch import EntitlementWatch

__all__ = [
    "FAIL_CLOSED",
    "FAIL_OPEN",
    "TLS",
    "Aborted",
    "AlreadyExists",
    "AnswerSource",
    "AsyncBillingClient",
    "AsyncEntitlementWatch",
    "AsyncPlanChecker",
    "BillingClient",
    "BillingError",
    "CacheStats",
    "CancellationTiming",
    "CheckoutSession",
    "DeadlineExceeded",
    "DenialReason",
    "EntitlementRequired",
    "EntitlementWatch",
    "Entitlements",
    "FailedPrecondition",
    "FailureMode",
    "FailurePolicy",
    "FeatureRequired",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Plan",
    "PlanCache",
    "PlanCheck",
    "PlanChecker",
    "PlanRequired",
    "PortalSession",
    "Proration",
    "ResourceExhausted",
    "Subscription",
    "SubscriptionStatus",
    "Unauthenticated",
    "Unavailable",
    "asgi_requires_feature",
    "asgi_requires_plan",
    "configure",
    "current_request_id",
    "from_rpc_error",
    "grpc_requires_feature",
    "grpc_requires_plan",
    "is_transient",
    "request_context",
    "requires_feature",
    "requires_plan",
    "serve_stale",
]
