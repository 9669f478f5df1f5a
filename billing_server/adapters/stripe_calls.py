"""Every Stripe request goes through here: deadline, breaker, 429 backoff, errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import stripe
from opentelemetry import trace

from billing_server import deadlines
from billing_server.circuit_breaker import CircuitBreaker
from billing_server.domain.errors import (
    BillingError,
    FailedPrecondition,
    InternalError,
    NotFound,
    Unavailable,
)
from billing_server.telemetry_port import NullTelemetry, Telemetry

T = TypeVar("T")
log = logging.getLogger(__name__)
KEY_IN_USE = "STRIPE_IDEMPOTENCY_KEY_IN_USE"


class StripeCalls:
    def __init__(
        self,
        breaker: CircuitBreaker,
        *,
        telemetry: Telemetry | None = None,
        rate_limit_retries: int = 3,
        backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.breaker = breaker
        self._telemetry: Telemetry = telemetry or NullTelemetry()
        self._rate_limit_retries = rate_limit_retries
        self._backoff_s = backoff_s
        self._sleep = sleep

    def __call__(self, operation: str, request: Callable[[], T]) -> T:
        """Runs one Stripe request, turning stripe's errors into the domain's."""
        started = time.perf_counter()
        outcome = "error"
        try:
            with self._telemetry.span(f"stripe {operation}", {"stripe.operation": operation}):
                result = self._call(operation, request)
                response = getattr(result, "last_response", None)
                _note_request_id(getattr(response, "request_id", None))
            outcome = "ok"
            return result
        except BillingError as exc:
            # Reasons are a small fixed set (STRIPE_UNAVAILABLE, ...): a label.
            outcome = exc.reason.lower()
            raise
        finally:
            self._telemetry.stripe_call(operation, outcome, time.perf_counter() - started)

    def _call(self, operation: str, request: Callable[[], T]) -> T:
        deadlines.check(f"calling Stripe ({operation})")
        if not self.breaker.allow():
            raise Unavailable(
                f"Stripe is failing; {operation} fails fast until it recovers",
                reason="STRIPE_CIRCUIT_OPEN",
            )
        attempt = 0
        while True:
            try:
                result = request()
            except stripe.RateLimitError as exc:
                # Our own request rate, not Stripe failing: back off, and do
                # not count it against Stripe's health.
                delay = self._backoff_s * 2**attempt
                left = deadlines.remaining()
                if attempt >= self._rate_limit_retries or (left is not None and left < delay):
                    self.breaker.record_neutral()
                    raise Unavailable(
                        f"Stripe is rate limiting ({operation}); retry later",
                        reason="STRIPE_RATE_LIMITED",
                    ) from exc
                attempt += 1
                self._sleep(delay)
                continue
            except stripe.StripeError as exc:
                _note_request_id(exc.request_id)
                error = _translate(operation, exc)
                if error.reason == KEY_IN_USE:
                    self.breaker.record_neutral()  # our own concurrency, not Stripe failing
                elif isinstance(error, Unavailable):
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # Stripe answered
                raise error from exc
            except BaseException:
                self.breaker.record_neutral()
                raise
            self.breaker.record_success()
            return result


def _note_request_id(request_id: object) -> None:
    """Stripe's request id on the current span: support can look the call up."""
    if isinstance(request_id, str) and request_id:
        trace.get_current_span().set_attribute("stripe.request_id", request_id)


def _translate(operation: str, exc: stripe.StripeError) -> BillingError:
    # The stripe library raises a plain APIError for a 409: the code tells.
    if _error_code(exc) == "idempotency_key_in_use":
        # A request with the same key is still running at Stripe (ours, or a
        # retry's): retrying later replays its result. Never a refusal.
        return Unavailable(
            f"a concurrent request is using the same key ({operation}); retry",
            reason=KEY_IN_USE,
        )
    if isinstance(exc, stripe.InvalidRequestError):
        return _invalid_request(operation, exc)
    if isinstance(exc, stripe.APIConnectionError):
        # Includes timeouts: the stripe library's own retries are spent.
        return Unavailable(
            f"Stripe is unreachable ({operation}); retry later", reason="STRIPE_UNAVAILABLE"
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return InternalError(
            f"Stripe rejected the service's credentials ({operation})",
            reason="STRIPE_CREDENTIALS_REJECTED",
        )
    status = exc.http_status or 0
    should_retry = _should_retry(exc)
    if should_retry is False and status >= 500:
        # Stripe says a retry would fail the same way: not UNAVAILABLE,
        # which every client retries.
        return InternalError(
            f"Stripe failed ({operation}) and advises against retrying",
            reason="STRIPE_FAILED",
        )
    if should_retry is True or status >= 500 or status in (0, 409):
        return Unavailable(f"Stripe failed ({operation}); retry later", reason="STRIPE_UNAVAILABLE")
    return FailedPrecondition(
        f"Stripe refused to {operation}: {exc.user_message or 'request declined'}",
        reason="STRIPE_DECLINED",
    )


def _error_code(exc: stripe.StripeError) -> str | None:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else exc.code


def _should_retry(exc: stripe.StripeError) -> bool | None:
    """Stripe-Should-Retry, when Stripe sent it."""
    headers = {name.lower(): value for name, value in (exc.headers or {}).items()}
    value = headers.get("stripe-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _invalid_request(operation: str, exc: stripe.InvalidRequestError) -> BillingError:
    if exc.code == "resource_missing":
        return NotFound(
            f"Stripe has no such object ({operation})",
            reason="STRIPE_RESOURCE_MISSING",
            metadata={"param": exc.param or ""},
        )
    # Stripe's own message explains the conflict (for example a subscription
    # that is already canceled) and holds no secrets.
    return FailedPrecondition(
        f"Stripe refused to {operation}: {exc.user_message or 'invalid request'}",
        reason="STRIPE_INVALID_REQUEST",
        metadata={"stripe_code": exc.code or ""},
    )
