"""Who gets in: tokens, scopes, key rotation, rate limits, the audit trail."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from billing.v1 import billing_pb2, billing_pb2_grpc, webhook_ingest_pb2, webhook_ingest_pb2_grpc
from billing_server.adapters.database import make_engine
from billing_server.adapters.orm import AuditLogRow, StripeEventRow
from billing_server.adapters.tokens import issue_token
from billing_server.domain.callers import Scope
from tests import stripe_payloads
from tests.e2e.conftest import (
    E2E_JWT_KEY,
    E2E_WEBHOOK_SECRETS,
    BillingServer,
    Emulator,
    server_env,
    start_server,
    token,
)
from tests.e2e.services import free_port
from tests.signing import signature_header
from tests.unit.test_tokens import _unsigned

pytestmark = pytest.mark.e2e

NEW_KEY = "rotated-signing-key-0123456789abcdef-new"


@pytest.fixture(scope="module")
def strict_server(database_url: str, emulator: Emulator, e2e_logs: Path) -> Iterator[BillingServer]:
    """A server mid-rotation (new key first, old key still accepted) with a
    tight CheckPlan rate limit."""
    env = server_env(database_url, emulator, free_port())
    env["JWT_SECRET_KEY"] = f"{NEW_KEY},{E2E_JWT_KEY}"
    env["PAYMENTSVC_RATE_LIMITS"] = "default=50/50,CheckPlan=5/5"
    server = start_server(env, e2e_logs)
    yield server
    server.process.stop()


def check(target: str, credential: str | None, method: str = "CheckPlan") -> Any:
    metadata: tuple[tuple[str, str | bytes], ...] = (
        (("authorization", f"Bearer {credential}"),) if credential is not None else ()
    )
    with grpc.insecure_channel(target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        try:
            if method == "CheckPlan":
                stub.CheckPlan(
                    billing_pb2.CheckPlanRequest(account_id="acct_sec", plan="free"),
                    metadata=metadata,
                    timeout=5,
                )
            else:
                stub.CreatePortalSession(
                    billing_pb2.CreatePortalSessionRequest(account_id="acct_sec"),
                    metadata=metadata,
                    timeout=5,
                )
        except grpc.RpcError as error:
            return error  # a grpc.Call too: code(), details(), trailing_metadata()
    return None


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(
            issue_token(
                E2E_JWT_KEY, "orders", [Scope.READ], timedelta(minutes=-5), datetime.now(UTC)
            ),
            id="expired",
        ),
        pytest.param(
            issue_token(
                E2E_JWT_KEY,
                "orders",
                [Scope.READ],
                timedelta(hours=1),
                datetime.now(UTC),
                audience="elsewhere",
            ),
            id="wrong-audience",
        ),
        pytest.param(
            issue_token(
                "some-other-key-0123456789abcdefghijkl",
                "orders",
                [Scope.READ],
                timedelta(hours=1),
                datetime.now(UTC),
            ),
            id="wrong-key",
        ),
        pytest.param(
            _unsigned(
                {
                    "sub": "orders",
                    "aud": "paymentsvc",
                    "exp": int(time.time()) + 3600,
                    "scope": "billing.read",
                }
            ),
            id="alg-none",
        ),
        pytest.param("garbage", id="garbage"),
    ],
)
def test_bad_credentials_are_unauthenticated_and_say_nothing_more(
    billing_server: BillingServer, credential: str | None
) -> None:
    error = check(billing_server.target, credential)
    assert error is not None
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "missing or invalid credentials"


def test_a_token_without_the_scope_is_permission_denied(billing_server: BillingServer) -> None:
    reader = token("dashboards", [Scope.READ])
    assert check(billing_server.target, reader) is None
    error = check(billing_server.target, reader, method="CreatePortalSession")
    assert error is not None
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED

    gateway_only = token("webhook-gateway", [Scope.INGEST])
    refused = check(billing_server.target, gateway_only)
    assert refused is not None
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED


def test_health_and_reflection_need_no_token(billing_server: BillingServer) -> None:
    with grpc.insecure_channel(billing_server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)  # type: ignore[attr-defined]
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_both_keys_work_during_a_rotation(strict_server: BillingServer) -> None:
    fresh = issue_token(NEW_KEY, "rotation", [Scope.READ], timedelta(hours=1), now())
    previous = issue_token(E2E_JWT_KEY, "rotation", [Scope.READ], timedelta(hours=1), now())
    assert check(strict_server.target, fresh) is None
    assert check(strict_server.target, previous) is None


def test_the_rate_limit_is_reached_and_recovers(strict_server: BillingServer) -> None:
    caller = token(f"burst-{uuid.uuid4().hex[:6]}", [Scope.READ])
    results = [check(strict_server.target, caller) for _ in range(6)]
    assert results[:5] == [None] * 5
    limited = results[5]
    assert limited is not None
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(limited.trailing_metadata())
    retry_after = float(trailers["retry-after"])
    assert 0 < retry_after <= 0.2

    other = token(f"other-{uuid.uuid4().hex[:6]}", [Scope.READ])
    assert check(strict_server.target, other) is None  # buckets are per caller

    time.sleep(retry_after + 0.05)
    assert check(strict_server.target, caller) is None


def test_the_audit_log_names_the_calling_service(
    billing_server: BillingServer, account_id: str
) -> None:
    with grpc.insecure_channel(billing_server.target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        stub.CreateCheckout(
            billing_pb2.CreateCheckoutRequest(account_id=account_id, plan="pro"),
            metadata=(("authorization", f"Bearer {token('orders-service', [Scope.WRITE])}"),),
            timeout=10,
        )
    engine = make_engine(billing_server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            actors = connection.scalars(
                select(AuditLogRow.actor).where(AuditLogRow.account_id == account_id)
            ).all()
    finally:
        engine.dispose()
    assert actors == ["orders-service"]


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda body: "", id="none"),
        pytest.param(lambda body: signature_header(body, "whsec_guessed"), id="another-secret"),
        pytest.param(
            lambda body: signature_header(body, E2E_WEBHOOK_SECRETS[0], int(time.time()) + 900),
            id="from-the-future",
        ),
    ],
)
def test_an_ingest_token_alone_cannot_inject_an_event(
    billing_server: BillingServer, account_id: str, signature: Callable[[bytes], str]
) -> None:
    """A made-up subscription to the top plan, sent with a valid ingest token
    but no signature of Stripe's: refused, and nothing stored."""
    now = datetime.now(UTC).replace(microsecond=0)
    forged = stripe_payloads.subscription(
        f"sub_forged_{account_id}",
        f"cus_forged_{account_id}",
        lookup_key="paymentsvc_enterprise_monthly",
        period_start=now,
        account_id=account_id,
    )
    body = stripe_payloads.event("customer.subscription.created", forged, now)
    ingest_only = (("authorization", f"Bearer {token('intruder', [Scope.INGEST])}"),)
    with grpc.insecure_channel(billing_server.target) as channel:
        stub = webhook_ingest_pb2_grpc.WebhookIngestServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.IngestEvent(
                webhook_ingest_pb2.IngestEventRequest(
                    payload=body, stripe_signature=signature(body)
                ),
                metadata=ingest_only,
                timeout=5,
            )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    engine = make_engine(billing_server.env["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as connection:
            found = connection.scalar(
                select(func.count()).where(StripeEventRow.event_id == json.loads(body)["id"])
            )
    finally:
        engine.dispose()
    assert found == 0
    answer = check_plan_enterprise(billing_server.target, account_id)
    assert not answer.allowed


def check_plan_enterprise(target: str, account_id: str) -> billing_pb2.CheckPlanResponse:
    with grpc.insecure_channel(target) as channel:
        stub = billing_pb2_grpc.BillingServiceStub(channel)
        return stub.CheckPlan(
            billing_pb2.CheckPlanRequest(account_id=account_id, plan="enterprise"),
            metadata=(("authorization", f"Bearer {token()}"),),
            timeout=5,
        )
