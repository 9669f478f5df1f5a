"""Stripe signatures, checked the same way by the gateway and the server."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from billing_server.adapters.webhook_signatures import InvalidSignature, verify
from tests.signing import signature_header

pytestmark = pytest.mark.unit

BODY = b'{"id": "evt_1", "object": "event"}'
SECRETS = ("whsec_new", "whsec_old")


def test_a_signature_with_any_current_secret_is_accepted() -> None:
    verify(BODY, signature_header(BODY, "whsec_old"), SECRETS, 300)


@pytest.mark.parametrize(
    "header",
    [
        lambda: None,
        lambda: "",
        lambda: "garbage",
        lambda: signature_header(BODY, "whsec_someone_else"),
        lambda: signature_header(BODY + b" ", "whsec_new"),
        # Outside the tolerance: too old, and from the future.
        lambda: signature_header(BODY, "whsec_new", int(time.time()) - 301),
        lambda: signature_header(BODY, "whsec_new", int(time.time()) + 600),
    ],
    ids=["none", "empty", "garbage", "other-secret", "other-body", "too-old", "future"],
)
def test_anything_else_is_refused(header: Callable[[], str | None]) -> None:
    # Signed when the test runs, not when it is collected.
    with pytest.raises(InvalidSignature):
        verify(BODY, header(), SECRETS, 300)


def test_a_little_clock_skew_is_tolerated() -> None:
    verify(BODY, signature_header(BODY, "whsec_new", int(time.time()) + 30), SECRETS, 300)
