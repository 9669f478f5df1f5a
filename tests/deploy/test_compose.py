"""docker-compose.yml agrees with the code: commands, variables, ports, order."""

from __future__ import annotations

import argparse
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from billing_server.config import Settings
from billing_server.entrypoints.grpc_server import BILLING_SERVICE
from stripe_emulator.cli import parse_args
from tests.deploy import compose_file
from tests.deploy.code_facts import (
    GATEWAY_DRAIN_S,
    ROOT,
    admin_command_problem,
    console_scripts,
    gateway_routes,
    gateway_settings,
    is_env_read,
    server_drain_s,
    server_ports,
    split_admin_argv,
)
from tests.deploy.dockerfile import stages

pytestmark = pytest.mark.unit

# Images other than ours, by repository; tags are pinned in the file.
KNOWN_IMAGES = {
    "postgres",
    "prom/prometheus",
    "otel/opentelemetry-collector",
    "jaegertracing/all-in-one",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def image_env() -> dict[str, str]:
    return stages()[-1].env()


def effective_env(service: dict[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV, then the service's environment."""
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "use the mapping form of `environment`"
    return {**image_env(), **{k: str(v) for k, v in environment.items()}}


def command(service: dict[str, Any]) -> list[str]:
    value = service.get("command", ["billing-server"])
    assert isinstance(value, list), "use the list form of `command`"
    return [str(v) for v in value]


def project_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose_file.services().items()
        if compose_file.runs_project_image(name)
    }


def emulator_args(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """The emulator's arguments as it parses them, its environment included."""
    for name, value in effective_env(service).items():
        monkeypatch.setenv(name, value)
    return parse_args(command(service)[1:])


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of every published port."""
    found = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        ip = parts[0] if len(parts) == 3 else ""
        found.append((ip, int(parts[-2]), int(parts[-1])))
    return found


def test_every_image_is_ours_or_a_known_pinned_one() -> None:
    for name, service in compose_file.raw_services().items():
        if compose_file.runs_project_image(name):
            continue
        repository, _, tag = str(service["image"]).partition(":")
        assert repository in KNOWN_IMAGES, f"{name}: unknown image {service['image']}"
        assert tag, f"{name}: pin the image's tag"
        assert tag != "latest", f"{name}: pin the image's tag"


def test_every_project_service_runs_a_console_script() -> None:
    for name, service in project_services().items():
        assert command(service)[0] in console_scripts(), name


def test_every_billing_admin_command_exists() -> None:
    for name, service in project_services().items():
        argv = command(service)
        if argv[0] == "billing-admin":
            problem = admin_command_problem(*split_admin_argv(argv[1:]))
            assert problem is None, f"{name}: {problem}"
        check = service.get("healthcheck", {}).get("test", [])
        if "billing-admin" in check:
            rest = check[check.index("billing-admin") + 1 :]
            problem = admin_command_problem(*split_admin_argv(rest))
            assert problem is None, f"{name} health check: {problem}"


def test_the_emulator_command_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    service = compose_file.services()["stripe-emulator"]
    args = emulator_args(service, monkeypatch)
    assert args.host == "0.0.0.0"
    gateway = compose_file.services()["webhook-gateway"]
    target = urlsplit(args.webhook_url)
    settings = gateway_settings(effective_env(gateway))
    assert target.hostname == "webhook-gateway"
    assert target.port == settings.port
    assert target.path == settings.webhook_path


def test_every_variable_set_for_our_processes_is_one_the_code_reads() -> None:
    for name, service in project_services().items():
        unknown = [var for var in service.get("environment", {}) if not is_env_read(var)]
        assert not unknown, f"{name} sets variables no code reads: {unknown}"


def test_the_server_environment_is_a_valid_configuration() -> None:
    for name in ("migrate", "catalog-sync", "billing-server"):
        env = effective_env(compose_file.services()[name])
        Settings.from_env(env)
        assert urlsplit(env["SQLALCHEMY_DATABASE_URI"]).hostname == "postgres"


def test_the_database_url_matches_the_postgres_service() -> None:
    postgres = compose_file.services()["postgres"]["environment"]
    url = urlsplit(
        effective_env(compose_file.services()["billing-server"])["SQLALCHEMY_DATABASE_URI"]
    )
    assert url.scheme == "postgresql"
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path == "/" + postgres["POSTGRES_DB"]
    assert url.port == 5432


def test_the_gateway_forwards_to_the_servers_grpc_port() -> None:
    services = compose_file.services()
    target = effective_env(services["webhook-gateway"])["PAYMENTSVC_BILLING_TARGET"]
    host, port = target.rsplit(":", 1)
    assert host == "billing-server"
    assert int(port) == server_ports(effective_env(services["billing-server"]))["grpc"]


def test_published_ports_are_the_ones_the_processes_bind_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = compose_file.services()
    bound = {
        "billing-server": set(server_ports(effective_env(services["billing-server"])).values()),
        "webhook-gateway": {gateway_settings(effective_env(services["webhook-gateway"])).port},
        "stripe-emulator": {emulator_args(services["stripe-emulator"], monkeypatch).port},
    }
    for name, service in services.items():
        for ip, _host, container in published(service):
            assert ip == "127.0.0.1", f"{name} publishes {container} beyond loopback"
            if name in bound:
                assert container in bound[name], f"{name} does not listen on {container}"


def test_start_order_follows_health_checks() -> None:
    services = compose_file.services()
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in CONDITIONS
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no health check"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", target


@pytest.mark.parametrize(
    ("service", "after"),
    [
        ("migrate", {"postgres": "service_healthy"}),
        ("billing-server", {"migrate": "service_completed_successfully"}),
        ("webhook-gateway", {"billing-server": "service_healthy"}),
    ],
)
def test_the_required_start_order(service: str, after: dict[str, str]) -> None:
    depends_on = compose_file.services()[service]["depends_on"]
    for target, condition in after.items():
        assert depends_on[target]["condition"] == condition


def test_postgres_keeps_its_data_in_a_named_volume_and_reports_readiness() -> None:
    document = compose_file.load()
    postgres = document["services"]["postgres"]
    assert str(postgres["image"]).split(":")[1].startswith("15")
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in document["volumes"]
    assert "pg_isready" in postgres["healthcheck"]["test"]


def test_http_health_checks_point_at_routes_that_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose_file.services()
    gateway = services["webhook-gateway"]
    url = urlsplit(re.findall(r"'(http://[^']+)'", gateway["healthcheck"]["test"][-1])[0])
    env = effective_env(gateway)
    assert url.port == gateway_settings(env).port
    assert url.path in gateway_routes(env)
    emulator = services["stripe-emulator"]
    url = urlsplit(re.findall(r"'(http://[^']+)'", emulator["healthcheck"]["test"][-1])[0])
    assert url.port == emulator_args(emulator, monkeypatch).port


def test_servers_get_longer_to_stop_than_they_drain() -> None:
    services = compose_file.services()
    drains = {
        "billing-server": server_drain_s(effective_env(services["billing-server"])),
        "webhook-gateway": GATEWAY_DRAIN_S,
    }
    for name, drain in drains.items():
        grace = str(services[name]["stop_grace_period"])
        assert grace.endswith("s")
        assert float(grace[:-1]) > drain, name


def test_every_variable_is_described_in_env_example() -> None:
    mentioned = compose_file.env_example_mentions()
    missing = compose_file.variables_used() - mentioned
    assert not missing, f"document these in deploy/compose/env.example: {sorted(missing)}"


def test_env_example_holds_no_real_secret() -> None:
    text = compose_file.ENV_EXAMPLE.read_text()
    assert not re.search(r"sk_live_\w+|rk_live_\w+|sk_test_[A-Za-z0-9]{10,}", text)
    for name, value in compose_file.env_example().items():
        if name.endswith(("SECRET", "SECRET_KEY", "PASSWORD")) and value:
            assert "change-me" in value or "change_me" in value, name


def test_required_secrets_fail_loudly_when_missing() -> None:
    env = compose_file.env_example()
    for name in ("POSTGRES_PASSWORD", "SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        with pytest.raises(KeyError, match=name):
            compose_file.load({k: v for k, v in env.items() if k != name})


def test_prometheus_scrapes_the_metrics_of_both_processes() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    services = compose_file.services()
    assert (
        "./deploy/compose/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in (services["prometheus"]["volumes"])
    )
    targets = {
        target: job.get("metrics_path", "/metrics")
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    server_metrics = server_ports(effective_env(services["billing-server"]))["metrics"]
    gateway_port = gateway_settings(effective_env(services["webhook-gateway"])).port
    assert targets == {
        f"billing-server:{server_metrics}": "/metrics",
        f"webhook-gateway:{gateway_port}": "/metrics",
    }


def test_the_gateway_serves_the_metrics_path_prometheus_scrapes() -> None:
    assert "/metrics" in gateway_routes(effective_env(compose_file.services()["webhook-gateway"]))


def _seconds(value: object) -> float:
    text = str(value)
    assert text.endswith("s"), text
    return float(text[:-1])


def test_the_server_is_checked_by_the_fast_probe_within_the_timeout() -> None:
    check = compose_file.services()["billing-server"]["healthcheck"]
    command = check["test"]
    assert command[:2] == ["CMD", "billing-probe"]
    assert command[1] in console_scripts()
    # The probe gives up (and says why) before Docker kills it.
    assert float(command[command.index("--timeout") + 1]) < _seconds(check["timeout"])
    assert command[command.index("--service") + 1] == BILLING_SERVICE


def test_one_shot_services_do_not_inherit_the_images_health_check() -> None:
    for name in ("migrate", "catalog-sync"):
        assert compose_file.services()[name]["healthcheck"] == {"disable": True}, name
