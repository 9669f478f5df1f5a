"""The public surface of billing_client is pinned, and importing it is light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import billing_client
import billing_client.testing

pytestmark = pytest.mark.unit

EXPORTED = {
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
}


def test_exported_names_are_pinned() -> None:
    assert set(billing_client.__all__) == EXPORTED
    assert len(billing_client.__all__) == len(EXPORTED)
    # Each name is defined by the package itself, not a module it imported.
    for name in EXPORTED:
        assert name in vars(billing_client), name
        assert not inspect.ismodule(vars(billing_client)[name]), name


def test_testing_module_exports() -> None:
    assert set(billing_client.testing.__all__) == {
        "DEFAULT_GRACE_PERIOD",
        "DEFAULT_PLANS",
        "FakeAsyncBillingClient",
        "FakeBillingClient",
    }


def test_public_names_live_in_private_modules() -> None:
    for name in EXPORTED:
        module = getattr(getattr(billing_client, name), "__module__", "billing_client._")
        assert module.startswith("billing_client._"), (name, module)


def test_importing_the_client_pulls_in_no_server_or_web_dependency() -> None:
    code = (
        "import sys, billing_client, billing_client.testing\n"
        "heavy = ('billing_server', 'sqlalchemy', 'stripe', 'starlette', 'opentelemetry')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
