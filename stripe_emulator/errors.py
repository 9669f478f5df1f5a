"""Stripe's error taxonomy as the emulator raises it.

Each error knows its HTTP status and renders Stripe's error body, so that the
real `stripe` library maps it to the same exception class it would raise
against api.stripe.com (InvalidRequestError, AuthenticationError, ...).
"""

from __future__ import annotations

from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An error answered in Stripe's `{"error": {...}}` shape."""

    status: int = 400
    type: str = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status is not None:
            self.status = status

    @property
    def replayable(self) -> bool:
        # Stripe saves an idempotent result only once the endpoint started
        # executing; requests that failed parameter validation are not saved,
        # so the client may fix the params and retry with the same key.
        return not (self.code or "").startswith("parameter_")

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


class IdempotencyError(StripeError):
    type = "idempotency_error"


class KeyInUseError(StripeError):
    """Another request with the same Idempotency-Key is still in flight."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message, code="idempotency_key_in_use")


class AuthenticationFailed(StripeError):
    status = 401


class RateLimited(StripeError):
    status = 429


class ApiFailure(StripeError):
    status = 500
    type = "api_error"


def unknown_parameter(name: str) -> StripeError:
    return StripeError(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def missing_parameter(name: str) -> StripeError:
    return StripeError(f"Missing required param: {name}.", code="parameter_missing", param=name)


def empty_parameter(name: str) -> StripeError:
    return StripeError(
        f"You passed an empty string for '{name}'. We assume empty values are an "
        f"attempt to unset a parameter; however '{name}' cannot be unset. You "
        f"should remove '{name}' from your request or supply a non-empty value.",
        code="parameter_invalid_empty",
        param=name,
    )


def invalid_value(name: str, message: str, code: str | None = None) -> StripeError:
    return StripeError(message, code=code, param=name)


def resource_missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    # Stripe answers 404 for the object named in the URL, but 400 when a
    # parameter (`customer`, `line_items[0][price]`) names a missing object.
    return StripeError(
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
        status=404 if param == "id" else 400,
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        f"Unrecognized request URL ({method}: {path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        status=404,
    )
