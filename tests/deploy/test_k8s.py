"""The Kubernetes manifests: valid against the API schema, and consistent
with each other and with the code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from billing_server.entrypoints.grpc_server import BILLING_SERVICE
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

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
SECRET_TEMPLATE = K8S / "secret.template.yaml"
PLACEHOLDER = "REPLACE_ME"

Manifest = dict[str, Any]


def documents(path: Path) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization() -> Manifest:
    return documents(K8S / "kustomization.yaml")[0]


def applied() -> list[Manifest]:
    """What `kubectl apply -k deploy/k8s` sends."""
    return [d for name in kustomization()["resources"] for d in documents(K8S / name)]


def of_kind(kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in applied() if d["kind"] == kind}


def secret_template() -> Manifest:
    return documents(SECRET_TEMPLATE)[0]


def pod_specs() -> Iterator[tuple[str, Manifest]]:
    for kind in ("Deployment", "Job"):
        for name, workload in of_kind(kind).items():
            yield name, workload["spec"]["template"]["spec"]
    for name, cron_job in of_kind("CronJob").items():
        yield name, cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers() -> Iterator[tuple[str, Manifest]]:
    for name, spec in pod_specs():
        for container in spec["containers"]:
            yield name, container


def container_env(container: Manifest) -> dict[str, str]:
    """The container's environment as the process sees it: image ENV, then
    its ConfigMaps, then `env` (secret values from the template)."""
    env = dict(stages()[-1].env())
    config_maps = of_kind("ConfigMap")
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]]["data"])
    secrets = secret_template()["stringData"]
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            env[entry["name"]] = secrets[entry["valueFrom"]["secretKeyRef"]["key"]]
    return env


def selected_by(selector: dict[str, str]) -> list[str]:
    """Deployments whose pods carry every label of `selector`."""
    return [
        name
        for name, deployment in of_kind("Deployment").items()
        if selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    ]


def container_of(deployment: str) -> Manifest:
    spec = of_kind("Deployment")[deployment]["spec"]["template"]["spec"]
    assert len(spec["containers"]) == 1
    container: Manifest = spec["containers"][0]
    return container


def all_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.name)
def test_every_manifest_is_valid_for_the_kubernetes_api(path: Path) -> None:
    for document in documents(path):
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            pytest.fail(f"{path.name} {document['kind']}: {where}: {error.message}")


def test_the_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in all_files()} - {SECRET_TEMPLATE.name}
    images = {image["name"] for image in kustomization()["images"]}
    for name, container in containers():
        assert container["image"] in images, name


def test_the_secret_template_holds_placeholders_only() -> None:
    secret = secret_template()
    assert "data" not in secret
    for key, value in secret["stringData"].items():
        assert PLACEHOLDER in value, f"{key} looks like a real value"


def test_every_secret_and_config_reference_resolves() -> None:
    secret = secret_template()
    config_maps = of_kind("ConfigMap")
    for name, container in containers():
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in config_maps, name
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret["metadata"]["name"], name
                assert ref["key"] in secret["stringData"], f"{name}: {ref['key']}"


def test_every_variable_is_one_the_code_reads() -> None:
    names = {key for cm in of_kind("ConfigMap").values() for key in cm["data"]}
    names |= set(secret_template()["stringData"])
    names |= {entry["name"] for _, container in containers() for entry in container.get("env", [])}
    unknown = sorted(name for name in names if not is_env_read(name))
    assert not unknown, f"no code reads {unknown}"


def test_every_container_runs_a_console_script() -> None:
    for name, container in containers():
        command = container["command"]
        assert command[0] in console_scripts(), name
        if command[0] == "billing-admin":
            assert admin_command_problem(*split_admin_argv(command[1:])) is None


def test_the_migration_job_migrates() -> None:
    (job,) = of_kind("Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "billing-admin",
        "migrate",
    ]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_server_has_native_grpc_probes_on_its_port() -> None:
    container = container_of("billing-server")
    grpc_port = server_ports(container_env(container))["grpc"]
    readiness = container["readinessProbe"]["grpc"]
    liveness = container["livenessProbe"]["grpc"]
    assert readiness == {"port": grpc_port, "service": BILLING_SERVICE}
    assert liveness["port"] == grpc_port
    assert liveness.get("service", "") == ""
    assert container["startupProbe"]["grpc"]["port"] == grpc_port


def test_the_gateway_has_http_probes_on_routes_it_serves() -> None:
    container = container_of("webhook-gateway")
    env = container_env(container)
    routes = gateway_routes(env)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert path in routes
        assert ports.get(http["port"], http["port"]) == gateway_settings(env).port


def test_container_ports_are_the_ones_the_processes_bind() -> None:
    server = container_of("billing-server")
    declared = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert declared == server_ports(container_env(server))
    gateway = container_of("webhook-gateway")
    assert [p["containerPort"] for p in gateway["ports"]] == [
        gateway_settings(container_env(gateway)).port
    ]


@pytest.mark.parametrize("deployment", ["billing-server", "webhook-gateway"])
def test_pods_get_longer_to_stop_than_they_drain(deployment: str) -> None:
    spec = of_kind("Deployment")[deployment]["spec"]["template"]["spec"]
    container = container_of(deployment)
    drain = (
        server_drain_s(container_env(container))
        if deployment == "billing-server"
        else GATEWAY_DRAIN_S
    )
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
    sleep = float(pre_stop["command"][1]) if pre_stop.get("command", [""])[0] == "sleep" else 0.0
    assert spec["terminationGracePeriodSeconds"] > sleep + drain


def test_every_pod_runs_non_root_on_a_read_only_filesystem() -> None:
    image_user = int(stages()[-1].all("USER")[-1].arguments.split(":")[0])
    for name, spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == image_user, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name


def test_every_container_has_resource_requests_and_limits() -> None:
    for name, container in containers():
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][bound].keys(), name


def test_services_select_deployments_and_target_their_named_ports() -> None:
    for name, service in of_kind("Service").items():
        (deployment,) = selected_by(service["spec"]["selector"])
        ports = {p["name"]: p["containerPort"] for p in container_of(deployment)["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{name}: {port['targetPort']}"
            assert port["port"] == ports[port["targetPort"]], name


def test_disruption_budgets_and_autoscalers_cover_each_deployment() -> None:
    deployments = set(of_kind("Deployment"))
    budgets = {
        name
        for pdb in of_kind("PodDisruptionBudget").values()
        for name in selected_by(pdb["spec"]["selector"]["matchLabels"])
    }
    scaled = {
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind("HorizontalPodAutoscaler").values()
    }
    assert budgets == deployments
    assert scaled == deployments
    for hpa in of_kind("HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 2, "a budget of minAvailable 1 needs two pods"
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    for deployment in of_kind("Deployment").values():
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


def _rules_for(deployment: str) -> list[Manifest]:
    return [
        rule
        for policy in of_kind("NetworkPolicy").values()
        if deployment in selected_by(policy["spec"]["podSelector"].get("matchLabels", {}))
        and policy["spec"]["podSelector"].get("matchLabels")
        for rule in policy["spec"].get("ingress", [])
    ]


def _ports(rule: Manifest) -> set[int]:
    return {port["port"] for port in rule.get("ports", [])}


def test_the_namespace_denies_ingress_by_default() -> None:
    policies = of_kind("NetworkPolicy").values()
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies)


def test_only_the_gateway_and_labelled_clients_reach_the_servers_grpc_port() -> None:
    grpc_port = server_ports(container_env(container_of("billing-server")))["grpc"]
    sources = [
        peer
        for rule in _rules_for("billing-server")
        if grpc_port in _ports(rule)
        for peer in rule["from"]
    ]
    assert sources == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "webhook-gateway"}}},
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"paymentsvc.io/billing-client": "true"}},
        },
    ]
    assert selected_by(sources[0]["podSelector"]["matchLabels"]) == ["webhook-gateway"]


def test_prometheus_reaches_the_metrics_ports() -> None:
    monitoring = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    server_metrics = server_ports(container_env(container_of("billing-server")))["metrics"]
    gateway_port = gateway_settings(container_env(container_of("webhook-gateway"))).port
    for deployment, port in (("billing-server", server_metrics), ("webhook-gateway", gateway_port)):
        assert any(
            monitoring in rule.get("from", []) and port in _ports(rule)
            for rule in _rules_for(deployment)
        ), deployment
        annotations = of_kind("Deployment")[deployment]["spec"]["template"]["metadata"][
            "annotations"
        ]
        assert annotations["prometheus.io/port"] == str(port)


def test_the_gateway_receives_webhooks_from_anywhere_on_its_port() -> None:
    gateway_port = gateway_settings(container_env(container_of("webhook-gateway"))).port
    assert any(
        "from" not in rule and _ports(rule) == {gateway_port}
        for rule in _rules_for("webhook-gateway")
    )
