"""What the error tracker's scrubber leaves of an event full of secrets."""

from __future__ import annotations

import json

import pytest

from paymentsvc_observability.error_tracking import (
    FILTERED,
    configure_error_tracking,
    scrub_event,
)

pytestmark = pytest.mark.unit

# A configured secret that looks like nothing in particular.
PLAIN_SECRET = "correct-horse-battery-staple-42"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcmRlcnMifQ.c2lnbmF0dXJlLWJ5dGVz"


def event() -> dict[str, object]:
    return {
        "message": f"failed with key sk_live_51HxYz0123abc and {PLAIN_SECRET}",
        "exception": {
            "values": [
                {"type": "ValueError", "value": "customer jane.doe+vip@example.co.uk not found"}
            ]
        },
        "breadcrumbs": {
            "values": [
                {"message": f"Authorization: Bearer {JWT}", "category": "grpc"},
                {"message": "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff"},
                {"message": "connecting to postgresql://billing:hunter2pass@db:5432/billing"},
            ]
        },
        "request": {
            "headers": [["Stripe-Signature", "t=1,v1=abc"], ["Content-Type", "application/json"]],
            "data": {"email": "jane@example.org", "plan": "pro"},
        },
        "extra": {"webhook_secret": "whsec_anything", "note": "rolled whsec_abcDEF123 today"},
        "tags": {"request_id": "req-1", "release": "paymentsvc@0.1.0"},
    }


def test_every_secret_and_email_is_masked() -> None:
    scrubbed = json.dumps(scrub_event(event(), [PLAIN_SECRET]))

    for secret in (
        "sk_live_51HxYz0123abc",
        PLAIN_SECRET,
        "jane.doe+vip@example.co.uk",
        JWT,
        "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff",
        "hunter2pass",
        "t=1,v1=abc",
        "jane@example.org",
        "whsec_anything",
        "whsec_abcDEF123",
    ):
        assert secret not in scrubbed
    assert FILTERED in scrubbed


def test_what_is_not_secret_stays_readable() -> None:
    scrubbed = scrub_event(event(), [PLAIN_SECRET])

    assert scrubbed["tags"] == {"request_id": "req-1", "release": "paymentsvc@0.1.0"}
    assert scrubbed["exception"]["values"][0]["type"] == "ValueError"
    assert scrubbed["request"]["data"]["plan"] == "pro"
    assert scrubbed["request"]["headers"][1] == ["Content-Type", "application/json"]
    assert (
        "postgresql://[Filtered]@db:5432/billing" in scrubbed["breadcrumbs"]["values"][2]["message"]
    )


def test_short_configured_values_are_not_taken_for_secrets() -> None:
    # A blank or tiny value would mask every occurrence of common text.
    scrubbed = scrub_event({"message": "a b c"}, ["a", ""])

    assert scrubbed == {"message": "a b c"}


def test_without_a_dsn_nothing_is_started() -> None:
    assert configure_error_tracking("billing-server", {"SENTRY_DSN": "  "}) is False
