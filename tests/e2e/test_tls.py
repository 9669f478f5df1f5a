"""TLS and mutual TLS on the gRPC port, with certificates made in the test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
import trustme

from billing.v1 import billing_pb2, billing_pb2_grpc
from tests.e2e.conftest import (
    BillingServer,
    Emulator,
    gateway_env,
    server_env,
    start_gateway,
    start_server,
)
from tests.e2e.services import free_port

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Pki:
    ca: bytes
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: bytes
    client_key: bytes
    client_cert_file: Path
    client_key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("webhook-gateway.internal")
    files = {
        "ca.pem": ca.cert_pem.bytes(),
        "server.pem": server.cert_chain_pems[0].bytes(),
        "server.key": server.private_key_pem.bytes(),
        "client.pem": client.cert_chain_pems[0].bytes(),
        "client.key": client.private_key_pem.bytes(),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return Pki(
        files["ca.pem"],
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        files["client.pem"],
        files["client.key"],
        folder / "client.pem",
        folder / "client.key",
    )


def tls_server(
    database_url: str, emulator: Emulator, logs: Path, pki: Pki, *, mutual: bool
) -> BillingServer:
    env = server_env(database_url, emulator, free_port())
    env["PAYMENTSVC_TLS_CERT_FILE"] = str(pki.server_cert)
    env["PAYMENTSVC_TLS_KEY_FILE"] = str(pki.server_key)
    if mutual:
        env["PAYMENTSVC_TLS_CLIENT_CA_FILE"] = str(pki.ca_file)
    return start_server(env, logs, credentials=_client_credentials(pki, with_cert=mutual))


def _client_credentials(pki: Pki, *, with_cert: bool) -> grpc.ChannelCredentials:
    if with_cert:
        return grpc.ssl_channel_credentials(pki.ca, pki.client_key, pki.client_cert)
    return grpc.ssl_channel_credentials(pki.ca)


def check_plan(channel: grpc.Channel, server: BillingServer) -> bool:
    stub = billing_pb2_grpc.BillingServiceStub(channel)
    answer = stub.CheckPlan(
        billing_pb2.CheckPlanRequest(account_id="acct_tls", plan="free"),
        metadata=(("authorization", f"Bearer {server.token}"),),
        timeout=5,
    )
    return answer.allowed


@pytest.fixture(scope="module")
def tls_only(
    database_url: str, emulator: Emulator, e2e_logs: Path, pki: Pki
) -> Iterator[BillingServer]:
    server = tls_server(database_url, emulator, e2e_logs, pki, mutual=False)
    yield server
    server.process.stop()


@pytest.fixture(scope="module")
def mutual_tls(
    database_url: str, emulator: Emulator, e2e_logs: Path, pki: Pki
) -> Iterator[BillingServer]:
    server = tls_server(database_url, emulator, e2e_logs, pki, mutual=True)
    yield server
    server.process.stop()


def test_tls_serves_clients_that_trust_the_ca(tls_only: BillingServer, pki: Pki) -> None:
    with grpc.secure_channel(tls_only.target, _client_credentials(pki, with_cert=False)) as channel:
        assert check_plan(channel, tls_only)


def test_tls_refuses_plaintext(tls_only: BillingServer) -> None:
    with grpc.insecure_channel(tls_only.target) as channel, pytest.raises(grpc.RpcError) as error:
        check_plan(channel, tls_only)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_requires_a_client_certificate(mutual_tls: BillingServer, pki: Pki) -> None:
    with grpc.secure_channel(
        mutual_tls.target, _client_credentials(pki, with_cert=True)
    ) as channel:
        assert check_plan(channel, mutual_tls)
    without = _client_credentials(pki, with_cert=False)
    with grpc.secure_channel(mutual_tls.target, without) as channel, pytest.raises(grpc.RpcError):
        check_plan(channel, mutual_tls)


def test_the_gateway_reaches_a_mutual_tls_server(
    mutual_tls: BillingServer, pki: Pki, e2e_logs: Path
) -> None:
    env = gateway_env(mutual_tls.target, free_port(), ("whsec_test_tls",))
    env["PAYMENTSVC_BILLING_TLS_CA_FILE"] = str(pki.ca_file)
    env["PAYMENTSVC_BILLING_TLS_CERT_FILE"] = str(pki.client_cert_file)
    env["PAYMENTSVC_BILLING_TLS_KEY_FILE"] = str(pki.client_key_file)
    gateway = start_gateway(env, e2e_logs)
    try:
        assert httpx.get(f"{gateway.url}/readyz", timeout=10).status_code == 200
    finally:
        gateway.process.stop()
