"""The Idempotency-Key sent to Stripe for a caller's request."""

from __future__ import annotations

import pytest

from billing_server.service_layer.idempotency import stripe_key

pytestmark = pytest.mark.unit

STRIPE_MAX_KEY = 255


def test_a_key_stays_within_stripes_limit_for_the_longest_inputs() -> None:
    # The longest values validation lets through: 128-character account ids,
    # 255-character caller keys, and a long service name from a token.
    key = stripe_key("s" * 255, "cancel-at_period_end", "a" * 128, "k" * 255)
    assert len(key) <= STRIPE_MAX_KEY
    assert key.isascii()
    assert key.isprintable()


def test_the_same_request_always_gets_the_same_key() -> None:
    assert stripe_key("reports", "checkout", "acct_1", "k1") == stripe_key(
        "reports", "checkout", "acct_1", "k1"
    )


def test_a_colon_in_the_account_cannot_collide_with_one_in_the_key() -> None:
    assert stripe_key("reports", "checkout", "acct_x:y", "z") != stripe_key(
        "reports", "checkout", "acct_x", "y:z"
    )


def test_two_callers_with_the_same_key_get_different_stripe_keys() -> None:
    assert stripe_key("reports", "checkout", "acct_1", "k1") != stripe_key(
        "web", "checkout", "acct_1", "k1"
    )


def test_each_method_and_account_has_keys_of_its_own() -> None:
    keys = {
        stripe_key("web", "checkout", "acct_1", "k1"),
        stripe_key("web", "change-plan", "acct_1", "k1"),
        stripe_key("web", "checkout", "acct_2", "k1"),
    }
    assert len(keys) == 3


def test_without_a_caller_key_every_request_is_new() -> None:
    assert stripe_key("web", "checkout", "acct_1", None) != stripe_key(
        "web", "checkout", "acct_1", None
    )
