"""Traces go to a collector port that speaks the protocol the exporter uses.

The exporter's protocol is OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL
(http/protobuf by default); collectors receive OTLP/gRPC on 4317 and
OTLP/HTTP on 4318. An endpoint on the other port fails on every export.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml

from paymentsvc_observability.tracing import CONVENTIONAL_PORTS, GRPC, otlp_protocol
from tests.deploy import compose_file
from tests.deploy.code_facts import ROOT
from tests.deploy.test_compose import effective_env
from tests.deploy.test_k8s import container_env, containers

pytestmark = pytest.mark.unit

# The collector's receiver key for each exporter protocol.
RECEIVERS = {GRPC: "grpc", "http/protobuf": "http"}


def endpoint_port(env: dict[str, str]) -> int | None:
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not url:
        return None
    port = urlsplit(url).port
    assert port is not None, f"{url}: name the port"
    return port


def traced_compose_services() -> dict[str, dict[str, str]]:
    return {
        name: env
        for name, service in compose_file.services().items()
        if compose_file.runs_project_image(name)
        and endpoint_port(env := effective_env(service)) is not None
    }


def test_both_servers_send_traces_in_compose() -> None:
    assert set(traced_compose_services()) == {"billing-server", "webhook-gateway"}


def test_compose_endpoints_use_the_port_of_their_protocol() -> None:
    for name, env in traced_compose_services().items():
        protocol = otlp_protocol(env)
        assert endpoint_port(env) == CONVENTIONAL_PORTS[protocol], f"{name} ({protocol})"
        assert urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname == "otel-collector"
        assert env["OTEL_SERVICE_NAME"] == name


def test_the_compose_collector_receives_that_protocol_on_that_port() -> None:
    collector = yaml.safe_load((ROOT / "deploy" / "compose" / "otel-collector.yml").read_text())
    receiving = {
        kind: int(settings["endpoint"].rsplit(":", 1)[1])
        for kind, settings in collector["receivers"]["otlp"]["protocols"].items()
    }
    for name, env in traced_compose_services().items():
        protocol = otlp_protocol(env)
        assert receiving.get(RECEIVERS[protocol]) == endpoint_port(env), name
    exporter = collector["exporters"]["otlp/jaeger"]["endpoint"]
    assert exporter.split(":")[0] in compose_file.services()


def test_kubernetes_endpoints_use_the_port_of_their_protocol() -> None:
    traced = 0
    for name, container in containers():
        env = container_env(container)
        port = endpoint_port(env)
        if port is None:
            continue
        traced += 1
        protocol = otlp_protocol(env)
        assert port == CONVENTIONAL_PORTS[protocol], f"{name} ({protocol})"
    assert traced >= 2, "billing-server and webhook-gateway send traces"
