"""What a production deployment must not start with.

`PAYMENTSVC_ENV=production` makes the server refuse to start while any of
these holds; `billing-admin preflight` reports them with its live checks.
"""

from __future__ import annotations

from urllib.parse import urlparse

from zxcvbn import zxcvbn

from billing_server.config import EMULATOR_API_KEY, Settings

MIN_SECRET_BYTES = 32
# zxcvbn's estimate of the guesses a secret takes, as a power of ten: a
# generated 32-byte secret scores above 40; `abcdefgh` four times about 2.
MIN_SECRET_GUESSES_LOG10 = 24
MAX_JWT_LEEWAY_S = 300
# Values that show a secret was copied from an example, not generated.
_PLACEHOLDER_MARKS = (
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "example",
    "insecure",
    "dev-only",
    "e2e-only",
    "your-",
    "xxxxxxxx",
)


def configuration_problems(settings: Settings) -> list[str]:
    """Every production misconfiguration, each as one line for the operator."""
    problems: list[str] = []
    if settings.log_level in ("DEBUG", "NOTSET"):
        problems.append(
            f"PAYMENTSVC_LOG_LEVEL is {settings.log_level}: debug logging is off in production"
        )
    if settings.jwt_leeway_s > MAX_JWT_LEEWAY_S:
        problems.append(
            f"PAYMENTSVC_JWT_LEEWAY is {settings.jwt_leeway_s} s: at most {MAX_JWT_LEEWAY_S} s "
            "in production (an expired token stays valid that long)"
        )
    if settings.tls_cert_file is None and not settings.allow_plaintext:
        problems.append(
            "PAYMENTSVC_TLS_CERT_FILE and PAYMENTSVC_TLS_KEY_FILE are not set: production "
            "serves TLS (set PAYMENTSVC_ALLOW_PLAINTEXT=true when a service mesh provides it)"
        )
    if settings.database_url.startswith("sqlite"):
        problems.append("SQLALCHEMY_DATABASE_URI is SQLite: production runs on PostgreSQL")
    problems += _secret_problems("SECRET_KEY", [settings.secret_key] if settings.secret_key else [])
    problems += _secret_problems("JWT_SECRET_KEY", list(settings.jwt_keys))
    if not settings.webhook_secrets:
        problems.append("STRIPE_WEBHOOK_SECRET is missing")
    for name, url in (
        ("PAYMENTSVC_SUCCESS_URL", settings.success_url),
        ("PAYMENTSVC_CANCEL_URL", settings.cancel_url),
        ("PAYMENTSVC_RETURN_URL", settings.return_url),
    ):
        if urlparse(url).scheme != "https":
            problems.append(f"{name} must be an https URL, got {url!r}")
    if settings.stripe_api_key == EMULATOR_API_KEY:
        problems.append("STRIPE_API_KEY is missing: production cannot run on the emulator")
    elif settings.stripe_api_key.startswith(("sk_test_", "rk_test_")):
        if not settings.allow_test_mode_in_production:
            problems.append(
                "STRIPE_API_KEY is a test-mode key: set "
                "PAYMENTSVC_ALLOW_TEST_MODE_IN_PRODUCTION=true to run production on test mode"
            )
    elif not settings.stripe_api_key.startswith(("sk_live_", "rk_live_")):
        problems.append("STRIPE_API_KEY is not a Stripe secret or restricted key")
    if settings.stripe_api_base is not None:
        problems.append("PAYMENTSVC_STRIPE_API_BASE is set: production talks to Stripe itself")
    return problems


def _secret_problems(name: str, values: list[str]) -> list[str]:
    if not values:
        return [f"{name} is missing"]
    problems = []
    for index, value in enumerate(values, start=1):
        which = name if len(values) == 1 else f"{name} (key {index})"
        lowered = value.lower()
        if len(value.encode()) < MIN_SECRET_BYTES:
            problems.append(f"{which} is shorter than {MIN_SECRET_BYTES} bytes")
        elif any(mark in lowered for mark in _PLACEHOLDER_MARKS):
            problems.append(f"{which} looks like a placeholder, not a generated secret")
        elif zxcvbn(value)["guesses_log10"] < MIN_SECRET_GUESSES_LOG10:
            problems.append(
                f"{which} is weak (repeated or predictable), not a generated secret: "
                "use `openssl rand -base64 32`"
            )
    return problems
