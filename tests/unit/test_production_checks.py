"""Production refuses each misconfiguration, and says which."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from billing_server.config import Settings
from billing_server.production_checks import configuration_problems

pytestmark = pytest.mark.unit

GOOD = {
    "PAYMENTSVC_ENV": "production",
    "SQLALCHEMY_DATABASE_URI": "postgresql://billing@db/billing",
    "SECRET_KEY": "Qm9yZWFsaXMtNzQxLXRhbmdvLXZpY3Rvci1xdWFydHo",
    "JWT_SECRET_KEY": "Wm1zdDktYmx1ZS1vcmNoaWQtNTUtc2lsdmVyLWZveA",
    "STRIPE_API_KEY": "sk_live_51Habcdefghijklmnop",
    "STRIPE_WEBHOOK_SECRET": "whsec_abcdefghijklmnop",
    "PAYMENTSVC_SUCCESS_URL": "https://app.example.com/billing/done",
    "PAYMENTSVC_CANCEL_URL": "https://app.example.com/billing/cancel",
    "PAYMENTSVC_RETURN_URL": "https://app.example.com/account",
    # A mesh provides TLS; test_tls_is_required_unless_a_mesh_provides_it.
    "PAYMENTSVC_ALLOW_PLAINTEXT": "true",
}


def problems(**changes: str | None) -> list[str]:
    env = {**GOOD, **changes}
    return configuration_problems(
        Settings.from_env({k: v for k, v in env.items() if v is not None})
    )


def test_a_good_production_configuration_passes() -> None:
    assert problems() == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"PAYMENTSVC_LOG_LEVEL": "DEBUG"}, "debug"),
        ({"PAYMENTSVC_LOG_LEVEL": "NOTSET"}, "NOTSET"),
        ({"PAYMENTSVC_JWT_LEEWAY": "301"}, "PAYMENTSVC_JWT_LEEWAY"),
        ({"JWT_SECRET_KEY": "abcdefgh" * 4}, "JWT_SECRET_KEY is weak"),
        ({"SECRET_KEY": "a1b2c3d4" * 4}, "SECRET_KEY is weak"),
        ({"SECRET_KEY": "0123456789abcdef" * 2}, "SECRET_KEY is weak"),
        ({"PAYMENTSVC_ALLOW_PLAINTEXT": None}, "production serves TLS"),
        ({"SQLALCHEMY_DATABASE_URI": "sqlite:///billing.db"}, "SQLite"),
        ({"SECRET_KEY": None}, "SECRET_KEY is missing"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is shorter than 32 bytes"),
        ({"JWT_SECRET_KEY": "changeme-changeme-changeme-changeme-42"}, "placeholder"),
        ({"JWT_SECRET_KEY": "a" * 40}, "JWT_SECRET_KEY is weak"),
        ({"JWT_SECRET_KEY": None}, "JWT_SECRET_KEY is missing"),
        ({"STRIPE_WEBHOOK_SECRET": None}, "STRIPE_WEBHOOK_SECRET is missing"),
        ({"PAYMENTSVC_SUCCESS_URL": "http://app.example.com/done"}, "PAYMENTSVC_SUCCESS_URL"),
        ({"PAYMENTSVC_CANCEL_URL": "http://app.example.com/x"}, "PAYMENTSVC_CANCEL_URL"),
        ({"PAYMENTSVC_RETURN_URL": "http://app.example.com/x"}, "PAYMENTSVC_RETURN_URL"),
        ({"STRIPE_API_KEY": "sk_test_51Habc"}, "test-mode key"),
        ({"PAYMENTSVC_STRIPE_API_BASE": "http://127.0.0.1:12111"}, "PAYMENTSVC_STRIPE_API_BASE"),
    ],
)
def test_each_misconfiguration_is_named(changes: dict[str, str | None], expected: str) -> None:
    found = problems(**changes)
    assert len(found) == 1, found
    assert expected in found[0]


def test_without_a_stripe_key_production_would_talk_to_the_emulator() -> None:
    found = problems(STRIPE_API_KEY=None)
    assert any("cannot run on the emulator" in p for p in found)


def test_test_mode_in_production_needs_an_explicit_flag() -> None:
    assert (
        problems(STRIPE_API_KEY="sk_test_51Habc", PAYMENTSVC_ALLOW_TEST_MODE_IN_PRODUCTION="true")
        == []
    )


def test_every_problem_is_listed_at_once() -> None:
    found = problems(SECRET_KEY=None, JWT_SECRET_KEY=None, PAYMENTSVC_SUCCESS_URL="http://x")
    assert len(found) == 3


def test_the_leeway_may_reach_five_minutes() -> None:
    assert problems(PAYMENTSVC_JWT_LEEWAY="300") == []


def test_generated_secrets_pass() -> None:
    assert (
        problems(SECRET_KEY=secrets.token_urlsafe(32), JWT_SECRET_KEY=secrets.token_hex(32)) == []
    )


def test_tls_is_required_unless_a_mesh_provides_it(tmp_path: Path) -> None:
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_text("cert")
    key.write_text("key")
    assert (
        problems(
            PAYMENTSVC_ALLOW_PLAINTEXT=None,
            PAYMENTSVC_TLS_CERT_FILE=str(cert),
            PAYMENTSVC_TLS_KEY_FILE=str(key),
        )
        == []
    )
    assert problems(PAYMENTSVC_ALLOW_PLAINTEXT="false") != []
