"""Settings from the environment and the plans file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from billing_server.adapters.catalog_file import CatalogError, load_catalog, parse_catalog
from billing_server.config import (
    DEFAULT_PLANS_FILE,
    EMULATOR_API_BASE,
    ConfigError,
    Settings,
    available_cpus,
)
from billing_server.domain.errors import InvalidArgument
from billing_server.domain.subscriptions import SubscriptionStatus

pytestmark = pytest.mark.unit


def test_defaults_run_locally_on_sqlite_against_the_emulator() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.stripe_api_base == EMULATOR_API_BASE
    assert settings.grpc_address == "127.0.0.1:50051"
    assert "{CHECKOUT_SESSION_ID}" in settings.success_url


def test_a_real_stripe_key_talks_to_stripe() -> None:
    settings = Settings.from_env({"STRIPE_API_KEY": "sk_live_abc"})
    assert settings.stripe_api_base is None
    assert settings.stripe_api_key == "sk_live_abc"


def test_the_success_url_always_carries_the_session_placeholder() -> None:
    settings = Settings.from_env({"PAYMENTSVC_SUCCESS_URL": "https://app.example/done?x=1"})
    assert settings.success_url == "https://app.example/done?x=1&session_id={CHECKOUT_SESSION_ID}"


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(
            {"PAYMENTSVC_GRPC_MAX_WORKERS": "many", "PAYMENTSVC_STRIPE_TIMEOUT": "-1"}
        )
    assert "PAYMENTSVC_GRPC_MAX_WORKERS" in str(error.value)
    assert "PAYMENTSVC_STRIPE_TIMEOUT" in str(error.value)


def test_the_shipped_catalogue_loads() -> None:
    catalog = load_catalog(DEFAULT_PLANS_FILE)
    assert [p.name for p in catalog.plans] == ["free", "pro", "enterprise"]
    assert catalog.free_plan is not None
    assert catalog.free_plan.name == "free"
    assert SubscriptionStatus.PAST_DUE in catalog.policy.grace


def test_a_catalogue_policy_overrides_the_defaults() -> None:
    catalog = parse_catalog(
        {
            "policy": {"allowed_statuses": ["active"], "grace_period_days": 3},
            "plans": [{"name": "pro", "rank": 1, "price_lookup_key": "pro"}],
        }
    )
    assert catalog.policy.allowed == {SubscriptionStatus.ACTIVE}
    assert catalog.policy.grace_period.days == 3


def test_a_checkout_starts_the_plans_trial_or_one_within_the_maximum() -> None:
    catalog = parse_catalog(
        {
            "policy": {"max_trial_days": 30},
            "plans": [{"name": "pro", "rank": 1, "price_lookup_key": "pro", "trial_days": 14}],
        }
    )
    pro = catalog.require("pro")
    assert catalog.trial_days(pro, None) == 14
    assert catalog.trial_days(pro, 0) == 0
    assert catalog.trial_days(pro, 30) == 30
    with pytest.raises(InvalidArgument) as refused:
        catalog.trial_days(pro, 31)
    assert (refused.value.reason, refused.value.field) == ("TRIAL_TOO_LONG", "trial_days")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"no \[\[plans\]\]"),
        ("[[plans]]\nrank = 1\n", "name"),
        ('[[plans]]\nname = "a"\nrank = 1\nprice_id = "p"\nprice_lookup_key = "k"\n', "not both"),
        ('[[plans]]\nname = "a"\nrank = 1\nfeatures = [""]\n', "features"),
        ('[policy]\nallowed_statuses = ["happy"]\n[[plans]]\nname = "a"\nrank = 1\n', "happy"),
        ('[[plans]]\nname = "a"\nrank = 1\ntrial_days = -1\n', "trial_days"),
        ('[[plans]]\nname = "a"\nrank = 1\ntrial_days = 731\n', "trial_days"),
        ('[policy]\nmax_trial_days = "a week"\n[[plans]]\nname = "a"\nrank = 1\n', "max_trial"),
        ("not toml [", "cannot read"),
    ],
)
def test_a_broken_plans_file_is_refused_with_a_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_the_three_environments_are_accepted(environment: str) -> None:
    assert Settings.from_env({"PAYMENTSVC_ENV": environment}).environment == environment


@pytest.mark.parametrize(
    "environment", ["Production", "PRODUCTION", "prod", "staging", " production", "dev"]
)
def test_any_other_environment_is_refused(environment: str) -> None:
    # `Production` once started a server that skipped every production check.
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PAYMENTSVC_ENV": environment})
    assert str(error.value) == (
        "invalid configuration: PAYMENTSVC_ENV must be exactly one of "
        f"development, test, production, got {environment!r}"
    )


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "ERROR", "critical", "NOTSET"])
def test_log_levels_are_python_s(level: str) -> None:
    assert Settings.from_env({"PAYMENTSVC_LOG_LEVEL": level}).log_level == level.upper()


def test_an_unknown_log_level_is_one_line_of_configuration_error() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"PAYMENTSVC_LOG_LEVEL": "TRACE"})
    assert "\n" not in str(error.value)
    assert "PAYMENTSVC_LOG_LEVEL" in str(error.value)
    assert "'TRACE'" in str(error.value)


def test_the_token_lifetime_is_capped_at_ninety_days_by_default() -> None:
    assert Settings.from_env({}).jwt_max_ttl_s == 90 * 24 * 3600
    assert Settings.from_env({"PAYMENTSVC_JWT_MAX_TTL": "3600"}).jwt_max_ttl_s == 3600


def test_one_server_process_per_usable_cpu_by_default() -> None:
    postgres = {"SQLALCHEMY_DATABASE_URI": "postgresql://db.internal/billing"}
    assert Settings.from_env(postgres).grpc_processes == available_cpus()
    assert Settings.from_env({}).grpc_processes == 1  # SQLite polls for changes
    assert available_cpus() <= len(os.sched_getaffinity(0))
    assert Settings.from_env({"PAYMENTSVC_GRPC_PROCESSES": "3"}).grpc_processes == 3
    with pytest.raises(ConfigError, match="PAYMENTSVC_GRPC_PROCESSES must be at least 1"):
        Settings.from_env({"PAYMENTSVC_GRPC_PROCESSES": "0"})


def test_the_access_log_sample_is_a_share() -> None:
    assert Settings.from_env({}).access_log_sample == 0.01
    with pytest.raises(ConfigError, match="between 0 and 1"):
        Settings.from_env({"PAYMENTSVC_ACCESS_LOG_SAMPLE": "5"})
