"""Error tracking with Sentry, on only when SENTRY_DSN is set.

Unexpected errors reach Sentry through the log: the server and the gateway
log them with `log.exception`, which Sentry's logging integration turns
into an event with the stack trace. Each event carries the environment
(SENTRY_ENVIRONMENT, else PAYMENTSVC_ENV), the release (SENTRY_RELEASE,
else paymentsvc@<version>), and the request id and trace id of the call
that failed as tags, so that it can be found in the logs and the traces.

Nothing secret leaves the process: frames' local variables and request
bodies are never sent, and `scrub_event` masks, everywhere in an event, the
configured secrets' values, values under names that look secret, and text
that looks like a key, a token, a signature or an email.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import sentry_sdk
from opentelemetry import trace

from paymentsvc_observability import request_ids

FILTERED = "[Filtered]"
# Variables whose values are secret (comma-separated lists during rotations).
SECRET_VARIABLES = (
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "SECRET_KEY",
    "JWT_SECRET_KEY",
    "PAYMENTSVC_BILLING_TOKEN",
)
DATABASE_VARIABLE = "SQLALCHEMY_DATABASE_URI"
_SECRET_NAME = re.compile(
    r"secret|token|passw|authorization|signature|api[_-]?key|cookie|credential|private|dsn|email",
    re.IGNORECASE,
)
_SECRET_TEXT = (
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+"),  # Stripe keys
    re.compile(r"\bwhsec_[A-Za-z0-9]+"),  # webhook signing secrets
    re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"),  # JWTs
    re.compile(r"\bBearer\s+\S+", re.IGNORECASE),
    re.compile(r"\bv[01]=[0-9a-f]{16,}"),  # Stripe-Signature's signatures
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"),  # emails
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password in URLs
)


def configure_error_tracking(service: str, env: Mapping[str, str] | None = None) -> bool:
    """Starts Sentry when SENTRY_DSN is set; returns whether it did."""
    env = os.environ if env is None else env
    dsn = env.get("SENTRY_DSN", "").strip()
    if not dsn:
        return False
    secrets = tuple(_secret_values(env))
    sentry_sdk.init(
        dsn=dsn,
        environment=env.get("SENTRY_ENVIRONMENT") or env.get("PAYMENTSVC_ENV") or "development",
        release=env.get("SENTRY_RELEASE") or f"paymentsvc@{metadata.version('paymentsvc')}",
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        # Only the default integrations (the log, uncaught exceptions): none
        # that wraps the gRPC server, the database or the Stripe client, and
        # no Sentry trace headers on calls to Stripe (OpenTelemetry traces).
        auto_enabling_integrations=False,
        trace_propagation_targets=[],
        before_send=lambda event, hint: scrub_event(_tagged(event, service), secrets),
        before_breadcrumb=lambda crumb, hint: scrub_event(crumb, secrets),
    )
    return True


def scrub_event(event: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `event` with every secret masked (see the module's doc)."""
    known = sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True)
    return _scrub(event, known)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            key: FILTERED
            if isinstance(key, str) and _SECRET_NAME.search(key) and value[key]
            else _scrub(value[key], secrets)
            for key in value
        }
    if isinstance(value, list | tuple):
        # Header lists: [["Authorization", "Bearer ..."], ...]
        if len(value) == 2 and isinstance(value[0], str) and _SECRET_NAME.search(value[0]):
            return [value[0], FILTERED]
        return [_scrub(item, secrets) for item in value]
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    return value


def _scrub_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, FILTERED)
    for pattern in _SECRET_TEXT:
        text = pattern.sub(FILTERED, text)
    return text


def _tagged(event: Any, service: str) -> Any:
    """Adds the service, and the current request id and trace id: Sentry
    calls before_send in the thread (and context) that captured the error."""
    tags = event.setdefault("tags", {})
    tags["service"] = service
    request_id = request_ids.current()
    if request_id:
        tags["request_id"] = request_id
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        tags["trace_id"] = format(span_context.trace_id, "032x")
    return event


def _secret_values(env: Mapping[str, str]) -> Iterable[str]:
    for name in SECRET_VARIABLES:
        yield from (part.strip() for part in env.get(name, "").split(",") if part.strip())
    password = urlsplit(env.get(DATABASE_VARIABLE, "")).password
    if password:
        yield password
