"""Settings, read once from the environment.

The names without a prefix (STRIPE_API_KEY, SQLALCHEMY_DATABASE_URI, ...) are
the ones operators already know; everything specific to this service is
prefixed PAYMENTSVC_.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from billing_server.domain.rate_limits import parse_limits

# Local development talks to the bundled Stripe emulator with this key when
# no STRIPE_API_KEY is set; the emulator accepts any sk_test_ key.
EMULATOR_API_KEY = "sk_test_paymentsvc_emulator"
EMULATOR_API_BASE = "http://127.0.0.1:12111"
CHECKOUT_SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
DEFAULT_PLANS_FILE = Path(__file__).parent / "catalog" / "plans.toml"


ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "NOTSET")
DEFAULT_JWT_MAX_TTL_S = 90 * 24 * 3600


class ConfigError(ValueError):
    """The environment does not describe a service that can start."""


@dataclass(frozen=True)
class Settings:
    environment: str
    # Production may start on Stripe test mode only when this says so.
    allow_test_mode_in_production: bool
    grpc_address: str
    grpc_max_workers: int
    metrics_address: str | None
    # How long the subscription counts of a scrape are reused.
    metrics_db_cache_s: float
    database_url: str
    db_pool_size: int
    db_max_overflow: int
    db_pool_timeout_s: float
    db_pool_recycle_s: int
    db_connect_timeout_s: int
    db_statement_timeout_s: int
    db_tcp_timeout_s: int
    stripe_api_key: str
    stripe_api_base: str | None
    stripe_timeout_s: float
    stripe_max_network_retries: int
    stripe_breaker_failures: int
    stripe_breaker_cooldown_s: float
    # Signing secrets of the webhook endpoint; several during a rotation.
    webhook_secrets: tuple[str, ...]
    webhook_tolerance_s: int
    secret_key: str | None
    # Verification keys; the first also signs tokens (`billing-admin issue-token`).
    jwt_keys: tuple[str, ...]
    jwt_audience: str
    jwt_leeway_s: int
    # Tokens living longer than this (exp - iat) are refused.
    jwt_max_ttl_s: int
    rate_limits: str
    max_deadline_s: float
    # How long calls are still served after SIGTERM, while NOT_SERVING.
    shutdown_delay_s: float
    shutdown_grace_s: float
    health_probe_interval_s: float
    # How long CheckPlan answers from the entitlement view, marked stale,
    # after losing touch with the database.
    stale_serve_max_s: float
    # Server processes sharing the gRPC port (SO_REUSEPORT): one per core.
    grpc_processes: int
    # SQLite has no NOTIFY: how often other processes' changes are looked for.
    change_poll_interval_s: float
    watch_window: int
    max_watchers: int
    max_watchers_per_caller: int
    # 0 turns scheduled replay and reconciliation off.
    maintenance_interval_s: float
    # The pace of the Stripe requests the applier and reconciliation make.
    stripe_requests_per_second: float
    # Threads applying stored webhook events; 0 leaves it to other replicas.
    applier_threads: int
    tls_cert_file: Path | None
    tls_key_file: Path | None
    # Set: clients must present a certificate signed by this CA (mutual TLS).
    tls_client_ca_file: Path | None
    # Production may serve plaintext gRPC only when this says that a mesh
    # (sidecars) provides TLS.
    allow_plaintext: bool
    success_url: str
    cancel_url: str
    return_url: str
    plans_file: Path
    log_level: str
    log_json: bool
    access_log: bool
    # The share of successful CheckPlan/GetEntitlements calls that get an
    # access-log line (errors and every other method always do).
    access_log_sample: float
    event_retention_days: int
    idempotency_retention_hours: int

    @property
    def drain_margin_s(self) -> float:
        """What a call cut short by a shutdown needs to answer before its
        grace ends: its rollback and its status."""
        return min(2.0, self.shutdown_grace_s / 2)

    @property
    def stripe_attempt_timeout_s(self) -> float:
        """One Stripe attempt never outlives a shutdown that starts while it
        waits: it ends a margin before its call's deadline does (which ends
        a margin before the grace), so the call still rolls back, audits its
        failure and is answered, not cancelled."""
        drain_s = self.shutdown_delay_s + self.shutdown_grace_s - 2 * self.drain_margin_s
        return min(self.stripe_timeout_s, drain_s)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        api_key = env.get("STRIPE_API_KEY") or None
        # Without a real key the service can only talk to the emulator.
        default_base = None if api_key else EMULATOR_API_BASE
        settings = cls(
            # Exactly one of these: `Production` or `prod` must not start a
            # server that skips the production checks.
            environment=reader.exact_choice("PAYMENTSVC_ENV", ENVIRONMENTS, "development"),
            allow_test_mode_in_production=reader.flag("PAYMENTSVC_ALLOW_TEST_MODE_IN_PRODUCTION"),
            grpc_address=reader.text("PAYMENTSVC_GRPC_ADDRESS", "127.0.0.1:50051"),
            grpc_max_workers=reader.integer("PAYMENTSVC_GRPC_MAX_WORKERS", 16),
            # An empty value turns the metrics endpoint off.
            metrics_address=env.get("PAYMENTSVC_METRICS_ADDRESS", "127.0.0.1:9464") or None,
            metrics_db_cache_s=reader.number("PAYMENTSVC_METRICS_DB_CACHE", 15.0, allow_zero=True),
            database_url=reader.text("SQLALCHEMY_DATABASE_URI", "sqlite:///var/paymentsvc.db"),
            # As many connections as worker threads: overflow connections are
            # closed when returned, and reopening them costs more than holding.
            db_pool_size=reader.integer("PAYMENTSVC_DB_POOL_SIZE", 16),
            db_max_overflow=reader.integer("PAYMENTSVC_DB_MAX_OVERFLOW", 8),
            db_pool_timeout_s=reader.number("PAYMENTSVC_DB_POOL_TIMEOUT", 5.0),
            db_pool_recycle_s=reader.integer("PAYMENTSVC_DB_POOL_RECYCLE", 1800),
            db_connect_timeout_s=reader.integer("PAYMENTSVC_DB_CONNECT_TIMEOUT", 5),
            db_statement_timeout_s=reader.integer("PAYMENTSVC_DB_STATEMENT_TIMEOUT", 10),
            db_tcp_timeout_s=reader.integer("PAYMENTSVC_DB_TCP_TIMEOUT", 10),
            stripe_api_key=api_key or EMULATOR_API_KEY,
            stripe_api_base=env.get("PAYMENTSVC_STRIPE_API_BASE") or default_base,
            stripe_timeout_s=reader.number("PAYMENTSVC_STRIPE_TIMEOUT", 10.0),
            stripe_max_network_retries=reader.integer("PAYMENTSVC_STRIPE_MAX_RETRIES", 2),
            stripe_breaker_failures=reader.integer("PAYMENTSVC_STRIPE_BREAKER_FAILURES", 5),
            stripe_breaker_cooldown_s=reader.number("PAYMENTSVC_STRIPE_BREAKER_COOLDOWN", 30.0),
            webhook_secrets=tuple(
                s.strip() for s in env.get("STRIPE_WEBHOOK_SECRET", "").split(",") if s.strip()
            ),
            webhook_tolerance_s=reader.integer("PAYMENTSVC_WEBHOOK_TOLERANCE", 300),
            secret_key=env.get("SECRET_KEY") or None,
            jwt_keys=tuple(
                k.strip() for k in env.get("JWT_SECRET_KEY", "").split(",") if k.strip()
            ),
            jwt_audience=reader.text("PAYMENTSVC_JWT_AUDIENCE", "paymentsvc"),
            jwt_leeway_s=reader.integer("PAYMENTSVC_JWT_LEEWAY", 30),
            jwt_max_ttl_s=reader.integer("PAYMENTSVC_JWT_MAX_TTL", DEFAULT_JWT_MAX_TTL_S),
            rate_limits=reader.text(
                "PAYMENTSVC_RATE_LIMITS", "default=200/400,CheckPlan=5000/10000"
            ),
            max_deadline_s=reader.number("PAYMENTSVC_MAX_DEADLINE", 30.0),
            shutdown_delay_s=reader.number("PAYMENTSVC_SHUTDOWN_DELAY", 5.0, allow_zero=True),
            shutdown_grace_s=reader.number("PAYMENTSVC_SHUTDOWN_GRACE", 10.0),
            health_probe_interval_s=reader.number("PAYMENTSVC_HEALTH_PROBE_INTERVAL", 2.0),
            stale_serve_max_s=reader.number("PAYMENTSVC_STALE_SERVE_MAX", 300.0, allow_zero=True),
            change_poll_interval_s=reader.number("PAYMENTSVC_CHANGE_POLL_INTERVAL", 0.5),
            # SQLite (development) hears other processes' changes only by
            # polling, so one process there keeps every answer current.
            grpc_processes=reader.positive(
                "PAYMENTSVC_GRPC_PROCESSES",
                1
                if env.get("SQLALCHEMY_DATABASE_URI", "sqlite:").startswith("sqlite")
                else available_cpus(),
            ),
            watch_window=reader.integer("PAYMENTSVC_WATCH_WINDOW", 10_000),
            max_watchers=reader.integer("PAYMENTSVC_MAX_WATCHERS", 64),
            max_watchers_per_caller=reader.integer("PAYMENTSVC_MAX_WATCHERS_PER_CALLER", 16),
            maintenance_interval_s=reader.number(
                "PAYMENTSVC_MAINTENANCE_INTERVAL", 3600.0, allow_zero=True
            ),
            stripe_requests_per_second=reader.number("PAYMENTSVC_STRIPE_RATE", 20.0),
            applier_threads=reader.integer("PAYMENTSVC_APPLIER_THREADS", 2),
            tls_cert_file=reader.path("PAYMENTSVC_TLS_CERT_FILE"),
            tls_key_file=reader.path("PAYMENTSVC_TLS_KEY_FILE"),
            tls_client_ca_file=reader.path("PAYMENTSVC_TLS_CLIENT_CA_FILE"),
            allow_plaintext=reader.flag("PAYMENTSVC_ALLOW_PLAINTEXT"),
            success_url=_with_session_placeholder(
                reader.text(
                    "PAYMENTSVC_SUCCESS_URL",
                    "http://localhost:3000/billing/success?session_id="
                    + CHECKOUT_SESSION_PLACEHOLDER,
                )
            ),
            cancel_url=reader.text("PAYMENTSVC_CANCEL_URL", "http://localhost:3000/billing/cancel"),
            return_url=reader.text("PAYMENTSVC_RETURN_URL", "http://localhost:3000/account"),
            plans_file=Path(reader.text("PAYMENTSVC_PLANS_FILE", str(DEFAULT_PLANS_FILE))),
            log_level=reader.choice("PAYMENTSVC_LOG_LEVEL", LOG_LEVELS, "INFO", upper=True),
            log_json=reader.choice(
                "PAYMENTSVC_LOG_FORMAT",
                ("json", "text"),
                "json" if env.get("PAYMENTSVC_ENV") == "production" else "text",
            )
            == "json",
            access_log=reader.flag("PAYMENTSVC_ACCESS_LOG", default=True),
            access_log_sample=reader.fraction("PAYMENTSVC_ACCESS_LOG_SAMPLE", 0.01),
            event_retention_days=reader.integer("PAYMENTSVC_EVENT_RETENTION_DAYS", 30),
            idempotency_retention_hours=reader.integer(
                "PAYMENTSVC_IDEMPOTENCY_RETENTION_HOURS", 24
            ),
        )
        if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
            reader.problems.append(
                "PAYMENTSVC_TLS_CERT_FILE and PAYMENTSVC_TLS_KEY_FILE go together"
            )
        if settings.tls_client_ca_file is not None and settings.tls_cert_file is None:
            reader.problems.append("PAYMENTSVC_TLS_CLIENT_CA_FILE needs the server's own TLS files")
        try:
            parse_limits(settings.rate_limits)
        except ValueError as exc:
            reader.problems.append(f"PAYMENTSVC_RATE_LIMITS: {exc}")
        reader.raise_problems()
        return settings


def _with_session_placeholder(url: str) -> str:
    # ConfirmCheckout needs the session id back from the success page, and
    # Stripe substitutes it only where this placeholder stands.
    if CHECKOUT_SESSION_PLACEHOLDER in url:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}session_id={CHECKOUT_SESSION_PLACEHOLDER}"


class _Reader:
    """Reads typed values and collects every problem, to report them at once."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str) -> str:
        return self.env.get(name) or default

    def choice(
        self, name: str, allowed: tuple[str, ...], default: str, *, upper: bool = False
    ) -> str:
        value = (self.env.get(name) or default).strip()
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            self.problems.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            return default
        return value

    def exact_choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.env.get(name) or default
        if value not in allowed:
            choices = ", ".join(allowed)
            self.problems.append(f"{name} must be exactly one of {choices}, got {value!r}")
            return default
        return value

    def flag(self, name: str, *, default: bool = False) -> bool:
        raw = self.env.get(name, "").strip().lower()
        if raw == "":
            return default
        if raw in ("0", "false", "no"):
            return False
        if raw in ("1", "true", "yes"):
            return True
        self.problems.append(f"{name} must be true or false, got {raw!r}")
        return False

    def path(self, name: str) -> Path | None:
        raw = self.env.get(name)
        if not raw:
            return None
        path = Path(raw)
        if not path.is_file():
            self.problems.append(f"{name}: no such file {raw!r}")
        return path

    def positive(self, name: str, default: int) -> int:
        value = self.integer(name, default)
        if value < 1:
            self.problems.append(f"{name} must be at least 1, got {value}")
        return value

    def integer(self, name: str, default: int) -> int:
        raw = self.env.get(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name} must be a whole number, got {raw!r}")
            return default
        if value < 0:
            self.problems.append(f"{name} must not be negative, got {value}")
        return value

    def fraction(self, name: str, default: float) -> float:
        value = self.number(name, default, allow_zero=True)
        if value > 1:
            self.problems.append(f"{name} must be between 0 and 1, got {value}")
        return value

    def number(self, name: str, default: float, *, allow_zero: bool = False) -> float:
        raw = self.env.get(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name} must be a number, got {raw!r}")
            return default
        if value < 0 or (value == 0 and not allow_zero):
            self.problems.append(f"{name} must be positive, got {value}")
        return value

    def raise_problems(self) -> None:
        if len(self.problems) == 1:
            raise ConfigError(f"invalid configuration: {self.problems[0]}")
        if self.problems:
            raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(self.problems))


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota
    (a container's CPU limit), at least 1."""
    cpus = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError, ValueError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    return max(1, cpus)
