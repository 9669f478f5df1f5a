"""billing-admin as an operator meets it: quiet, one-line errors, idempotent set-up."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy
import stripe

from billing_server.domain.events import HANDLED_TYPES
from stripe_emulator.testing import run_emulator_process
from tests.e2e.conftest import Emulator, server_env
from tests.e2e.services import free_port, run_script

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    return server_env(f"sqlite:///{tmp_path / 'admin.db'}", emulator, free_port())


def endpoints_at(api_base: str, url: str) -> list[stripe.WebhookEndpoint]:
    client = stripe.StripeClient("sk_test_e2e", base_addresses={"api": api_base})
    return [e for e in client.v1.webhook_endpoints.list({"limit": 100}).data if e.url == url]


def test_webhook_setup_twice_leaves_one_endpoint(env: dict[str, str], emulator: Emulator) -> None:
    url = f"https://billing.example/{uuid.uuid4().hex[:8]}/stripe/webhook"
    first = run_script(["billing-admin", "webhook", "setup", "--url", url], env)
    second = run_script(["billing-admin", "webhook", "setup", "--url", url], env)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "created webhook endpoint" in first.stdout
    assert "already receives the six events" in second.stdout
    assert len(endpoints_at(emulator.url, url)) == 1


def test_webhook_setup_finds_the_emulators_start_up_endpoint(env: dict[str, str]) -> None:
    # `make dev` and compose start the emulator with --webhook-url: setting up
    # the same URL must not register a second endpoint that delivers every
    # event again, signed with another secret.
    url = f"http://127.0.0.1:{free_port()}/stripe/webhook"
    with run_emulator_process(webhook_url=url, webhook_secret="whsec_dev") as running:
        local = {**env, "PAYMENTSVC_STRIPE_API_BASE": running.url}
        for _ in range(2):
            setup = run_script(["billing-admin", "webhook", "setup", "--url", url], local)
            assert setup.returncode == 0, setup.stdout + setup.stderr
            assert "whsec_" not in setup.stdout
        (endpoint,) = endpoints_at(running.url, url)
        assert set(endpoint.enabled_events) == HANDLED_TYPES


def test_commands_print_their_result_without_library_log_lines(env: dict[str, str]) -> None:
    migrated = run_script(["billing-admin", "migrate"], env)
    synced = run_script(["billing-admin", "catalog", "sync"], env)
    assert migrated.returncode == synced.returncode == 0
    assert migrated.stderr == synced.stderr == ""
    assert "schema migrated to" in migrated.stdout
    verbose = run_script(["billing-admin", "-v", "catalog", "sync"], env)
    assert "Request to Stripe api" in verbose.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["migrate", "--revision", "9999"], "billing-admin: unknown revision '9999'"),
        (["catalog", "sync"], "billing-admin: invalid configuration:"),
    ],
)
def test_operator_errors_are_one_line_and_exit_2(
    env: dict[str, str], argv: list[str], message: str
) -> None:
    broken = {**env, "PAYMENTSVC_STRIPE_TIMEOUT": "soon"} if argv[0] == "catalog" else env
    result = run_script(["billing-admin", *argv], broken)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 2


def test_a_database_of_a_newer_release_and_a_bad_plans_file_are_one_line_and_exit_2(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert run_script(["billing-admin", "migrate"], env).returncode == 0
    engine = sqlalchemy.create_engine(env["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    newer = run_script(["billing-admin", "migrate"], env)
    assert (newer.returncode, newer.stderr.splitlines()) == (
        2,
        ["billing-admin: Can't locate revision identified by 'f00d'"],
    )
    plans = tmp_path / "plans.toml"
    plans.write_text("[plans.pro\n")
    bad = run_script(
        ["billing-admin", "catalog", "sync"], {**env, "PAYMENTSVC_PLANS_FILE": str(plans)}
    )
    assert bad.returncode == 2
    [line] = bad.stderr.splitlines()
    assert line.startswith(f"billing-admin: cannot read plans file {plans}: Expected")


def test_an_unreachable_database_is_one_line_and_exit_1(env: dict[str, str]) -> None:
    unreachable = {
        **env,
        "SQLALCHEMY_DATABASE_URI": f"postgresql://nobody@127.0.0.1:{free_port()}/x",
    }
    result = run_script(["billing-admin", "schema-status"], unreachable)
    assert result.returncode == 1
    assert result.stderr.startswith("billing-admin: database: ")
    assert len(result.stderr.splitlines()) == 1
