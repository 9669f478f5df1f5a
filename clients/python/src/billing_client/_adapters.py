"""Plan protection for gRPC servicer methods and Starlette (ASGI) endpoints."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar, cast

import grpc

from billing_client._decorators import AsyncPlanChecker, PlanChecker, default_async_client
from billing_client._decorators import default_client as _default_client
from billing_client._errors import (
    BillingError,
    EntitlementRequired,
    FeatureRequired,
    PlanRequired,
    is_unreachable,
)
from billing_client._policy import FAIL_CLOSED, FailurePolicy
from billing_client._status import STATUS_DETAILS_KEY, encode_status
from billing_client._types import PlanCheck

F = TypeVar("F", bound=Callable[..., Any])
A = TypeVar("A", bound=Callable[..., Awaitable[Any]])

GrpcAccountFrom = Callable[[Any, Any], str]
"""Receives (request, context) and returns the account id."""
AsgiAccountFrom = str | Callable[[Any], str]
"""A path parameter name, or a callable receiving the request."""


# gRPC --------------------------------------------------------------------


def grpc_requires_plan(
    plan: str,
    *,
    account: GrpcAccountFrom,
    client: PlanChecker | AsyncPlanChecker | None = None,
    on_unavailable: FailurePolicy = FAIL_CLOSED,
) -> Callable[[F], F]:
    """Protects a gRPC servicer method (sync, or async for grpc.aio servers).

    A denied call is aborted with PERMISSION_DENIED, the reason in the
    message and a ``google.rpc.ErrorInfo`` (reason ``PLAN_REQUIRED``, metadata
    ``denial_reason``, ``required_plan``) in ``grpc-status-details-bin``; an
    unreachable billing service (with a failing-closed policy) aborts with
    UNAVAILABLE so that the caller retries instead of upselling.
    """
    return _grpc_guard("plan", plan, account, client, on_unavailable)


def grpc_requires_feature(
    feature: str,
    *,
    account: GrpcAccountFrom,
    client: PlanChecker | AsyncPlanChecker | None = None,
    on_unavailable: FailurePolicy = FAIL_CLOSED,
) -> Callable[[F], F]:
    """As ``grpc_requires_plan`` for a feature (reason ``FEATURE_REQUIRED``)."""
    return _grpc_guard("feature", feature, account, client, on_unavailable)


def _abort_args(error: BillingError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    details = encode_status(
        error.code.value[0], error.message, reason=error.reason or "", metadata=error.metadata
    )
    return error.code, error.message, ((STATUS_DETAILS_KEY, details),)


def _grpc_guard(
    kind: str,
    name: str,
    account: GrpcAccountFrom,
    client: PlanChecker | AsyncPlanChecker | None,
    policy: FailurePolicy,
) -> Callable[[F], F]:
    plan = name if kind == "plan" else None
    feature = name if kind == "feature" else None
    denied: type[EntitlementRequired] = PlanRequired if kind == "plan" else FeatureRequired

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: Any) -> Any:
                request, context = args[-2], args[-1]
                account_id = account(request, context)
                checker = client if client is not None else default_async_client()
                try:
                    answer: Any = checker.check_access(
                        account_id, plan=plan, feature=feature, on_unavailable=policy
                    )
                    check = await answer if inspect.isawaitable(answer) else answer
                    if not check.allowed:
                        raise denied(account_id, name, check)
                except BillingError as error:
                    if not (isinstance(error, EntitlementRequired) or is_unreachable(error)):
                        raise
                    code, message, trailers = _abort_args(error)
                    await context.abort(code, message, trailers)
                return await fn(*args)

            return cast(F, guarded_async)

        @functools.wraps(fn)
        def guarded(*args: Any) -> Any:
            request, context = args[-2], args[-1]
            account_id = account(request, context)
            checker = cast(PlanChecker, client if client is not None else _default_client())
            try:
                check = checker.check_access(
                    account_id, plan=plan, feature=feature, on_unavailable=policy
                )
                if not check.allowed:
                    raise denied(account_id, name, check)
            except BillingError as error:
                if not (isinstance(error, EntitlementRequired) or is_unreachable(error)):
                    raise
                code, message, trailers = _abort_args(error)
                context.set_trailing_metadata(trailers)
                context.abort(code, message)
            return fn(*args)

        return cast(F, guarded)

    return decorate


# ASGI / Starlette ----------------------------------------------------------


class JSONAnswer:
    """A minimal ASGI JSON response, used when Starlette is not installed."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.body = json.dumps(body).encode()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _json_response(status_code: int, body: dict[str, Any]) -> Any:
    try:  # Starlette is optional: imported only when a denial is answered
        from starlette.responses import JSONResponse
    except ImportError:
        return JSONAnswer(status_code, body)
    return JSONResponse(body, status_code=status_code)


def asgi_requires_plan(
    plan: str,
    *,
    account: AsgiAccountFrom,
    client: AsyncPlanChecker | PlanChecker | None = None,
    on_unavailable: FailurePolicy = FAIL_CLOSED,
) -> Callable[[A], A]:
    """Protects an async Starlette endpoint (``async def endpoint(request)``,
    or an ``HTTPEndpoint`` method).

    A denied request gets 403 with ``{"error": "plan_required",
    "required_plan": ..., "reason": ...}``; an unreachable billing service
    (failing closed) gets 503 with ``{"error": "billing_unavailable"}``.
    ``account`` is a path parameter name or a callable receiving the request.
    """
    return _asgi_guard("plan", plan, account, client, on_unavailable)


def asgi_requires_feature(
    feature: str,
    *,
    account: AsgiAccountFrom,
    client: AsyncPlanChecker | PlanChecker | None = None,
    on_unavailable: FailurePolicy = FAIL_CLOSED,
) -> Callable[[A], A]:
    """As ``asgi_requires_plan``; the 403 body's error is ``feature_required``
    and it names the ``feature``."""
    return _asgi_guard("feature", feature, account, client, on_unavailable)


def _denial_body(kind: str, name: str, check: PlanCheck) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": f"{kind}_required",
        "required_plan": check.required_plan,
        "reason": check.denial_reason.value if check.denial_reason else None,
    }
    if kind == "feature":
        body["feature"] = name
    return body


def _asgi_guard(
    kind: str,
    name: str,
    account: AsgiAccountFrom,
    client: AsyncPlanChecker | PlanChecker | None,
    policy: FailurePolicy,
) -> Callable[[A], A]:
    plan = name if kind == "plan" else None
    feature = name if kind == "feature" else None

    def account_of(request: Any) -> str:
        if isinstance(account, str):
            return str(request.path_params[account])
        return account(request)

    def decorate(fn: A) -> A:
        @functools.wraps(fn)
        async def guarded(*args: Any) -> Any:
            request = args[-1]
            checker = client if client is not None else default_async_client()
            try:
                answer: Any = checker.check_access(
                    account_of(request), plan=plan, feature=feature, on_unavailable=policy
                )
                check = await answer if inspect.isawaitable(answer) else answer
            except BillingError as error:
                if not is_unreachable(error):
                    raise
                return _json_response(503, {"error": "billing_unavailable"})
            if not check.allowed:
                return _json_response(403, _denial_body(kind, name, check))
            return await fn(*args)

        return cast(A, guarded)

    return decorate
