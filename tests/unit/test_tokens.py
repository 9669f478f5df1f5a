"""Service tokens: what the verifier accepts and refuses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from billing_server.adapters.tokens import TokenVerifier, issue_token
from billing_server.domain.callers import InvalidToken, Scope

pytestmark = pytest.mark.unit

KEY = "unit-test-signing-key-0123456789abcdef"
OLD_KEY = "unit-test-previous-key-0123456789abcdef"


def now() -> datetime:
    return datetime.now(UTC)


def verifier(*keys: str) -> TokenVerifier:
    return TokenVerifier(keys or (KEY,), audience="paymentsvc", leeway_s=30)


def test_a_valid_token_names_the_service_and_its_scopes() -> None:
    token = issue_token(KEY, "orders", [Scope.READ, Scope.WRITE], timedelta(hours=1), now())
    identity = verifier().verify(token)
    assert identity.service == "orders"
    assert identity.scopes == {Scope.READ, Scope.WRITE}


def test_tokens_of_the_previous_key_pass_during_a_rotation() -> None:
    old = issue_token(OLD_KEY, "orders", [Scope.READ], timedelta(hours=1), now())
    assert verifier(KEY, OLD_KEY).verify(old).service == "orders"
    with pytest.raises(InvalidToken):
        verifier(KEY).verify(old)


def test_a_little_clock_skew_is_allowed_but_expiry_is_not() -> None:
    skewed = issue_token(KEY, "orders", [Scope.READ], timedelta(seconds=-10), now())
    assert verifier().verify(skewed).service == "orders"
    expired = issue_token(KEY, "orders", [Scope.READ], timedelta(minutes=-5), now())
    with pytest.raises(InvalidToken):
        verifier().verify(expired)


def test_another_audience_is_refused() -> None:
    token = issue_token(KEY, "orders", [Scope.READ], timedelta(hours=1), now(), audience="other")
    with pytest.raises(InvalidToken):
        verifier().verify(token)


def _unsigned(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_alg_none_is_refused() -> None:
    claims = {
        "sub": "orders",
        "aud": "paymentsvc",
        "exp": int(now().timestamp()) + 3600,
        "scope": "billing.write",
    }
    with pytest.raises(InvalidToken):
        verifier().verify(_unsigned(claims))


@pytest.mark.parametrize("missing", ["sub", "exp", "aud"])
def test_required_claims(missing: str) -> None:
    claims = {"sub": "orders", "aud": "paymentsvc", "exp": int(now().timestamp()) + 3600}
    del claims[missing]
    with pytest.raises(InvalidToken):
        verifier().verify(jwt.encode(claims, KEY, algorithm="HS256"))


def test_unknown_scopes_grant_nothing() -> None:
    claims = {
        "sub": "x",
        "aud": "paymentsvc",
        "exp": int(now().timestamp()) + 60,
        "scope": "admin *",
    }
    assert verifier().verify(jwt.encode(claims, KEY, algorithm="HS256")).scopes == frozenset()


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidToken):
        verifier().verify("not.a.token")


def test_a_token_living_longer_than_the_maximum_is_refused() -> None:
    capped = TokenVerifier((KEY,), audience="paymentsvc", leeway_s=30, max_ttl_s=3600)
    fine = issue_token(KEY, "orders", [Scope.READ], timedelta(hours=1), now())
    assert capped.verify(fine).service == "orders"
    forever = issue_token(KEY, "orders", [Scope.READ], timedelta(days=3650), now())
    with pytest.raises(InvalidToken):
        capped.verify(forever)


def test_a_far_future_issue_time_cannot_stretch_the_lifetime() -> None:
    capped = TokenVerifier((KEY,), audience="paymentsvc", leeway_s=30, max_ttl_s=3600)
    later = now() + timedelta(days=365)
    # exp - iat is one hour, but the token would be valid for a year.
    token = issue_token(KEY, "orders", [Scope.READ], timedelta(hours=1), later)
    with pytest.raises(InvalidToken):
        capped.verify(token)


def test_the_default_maximum_is_ninety_days() -> None:
    within = issue_token(KEY, "orders", [Scope.READ], timedelta(days=89), now())
    assert verifier().verify(within).service == "orders"
    beyond = issue_token(KEY, "orders", [Scope.READ], timedelta(days=91), now())
    with pytest.raises(InvalidToken):
        verifier().verify(beyond)


def test_a_token_without_an_issue_time_is_capped_by_its_expiry() -> None:
    capped = TokenVerifier((KEY,), audience="paymentsvc", leeway_s=30, max_ttl_s=3600)
    exp = int((now() + timedelta(days=2)).timestamp())
    token = jwt.encode({"sub": "orders", "aud": "paymentsvc", "exp": exp}, KEY, algorithm="HS256")
    with pytest.raises(InvalidToken):
        capped.verify(token)
