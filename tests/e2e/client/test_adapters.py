"""The gRPC servicer and Starlette adapters against the real billing-server."""

from __future__ import annotations

import asyncio
from concurrent import futures
from typing import Any

import grpc
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from billing_client import (
    AsyncBillingClient,
    BillingClient,
    PermissionDenied,
    asgi_requires_feature,
    asgi_requires_plan,
    from_rpc_error,
    grpc_requires_plan,
)
from tests.e2e.client.conftest import subscribe
from tests.e2e.conftest import BillingServer, Emulator

pytestmark = pytest.mark.e2e


def test_grpc_servicer_methods_abort_with_permission_denied(
    client: BillingClient, emulator: Emulator, account_id: str
) -> None:
    paying = account_id
    subscribe(client, emulator, paying, "pro")

    # A servicer method of another team's service; the account is in the request.
    @grpc_requires_plan("pro", account=lambda request, context: request.decode(), client=client)
    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"exported " + request

    handler = grpc.method_handlers_generic_handler(
        "reports.v1.Reports", {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call: Any = channel.unary_unary("/reports.v1.Reports/Export")
            assert call(paying.encode(), timeout=5) == b"exported " + paying.encode()
            with pytest.raises(grpc.RpcError) as denied:
                call(b"acct_nobody_" + account_id.encode(), timeout=5)
    finally:
        server.stop(None)

    error = from_rpc_error(denied.value)
    assert isinstance(error, PermissionDenied)
    assert error.reason == "PLAN_REQUIRED"
    assert error.metadata["denial_reason"] == "no_subscription"
    assert error.metadata["required_plan"] == "pro"
    assert "plan 'pro' required" in error.message


def test_starlette_routes_answer_403_json(billing_server: BillingServer, account_id: str) -> None:
    async def main() -> list[httpx.Response]:
        async with AsyncBillingClient(
            billing_server.target,
            service_name="client-e2e",
            insecure=True,
            token=billing_server.token,
        ) as client:

            @asgi_requires_plan("free", account="account_id", client=client)
            async def dashboard(request: Request) -> JSONResponse:
                return JSONResponse({"dashboard": request.path_params["account_id"]})

            @asgi_requires_plan("pro", account="account_id", client=client)
            async def export(request: Request) -> JSONResponse:
                return JSONResponse({"export": "ok"})

            @asgi_requires_feature(
                "sso", account=lambda request: request.headers["x-account"], client=client
            )
            async def sso(request: Request) -> JSONResponse:
                return JSONResponse({"sso": "ok"})

            app = Starlette(
                routes=[
                    Route("/accounts/{account_id}/dashboard", dashboard),
                    Route("/accounts/{account_id}/export", export),
                    Route("/sso", sso),
                ]
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                return [
                    await http.get(f"/accounts/{account_id}/dashboard"),
                    await http.get(f"/accounts/{account_id}/export"),
                    await http.get("/sso", headers={"x-account": account_id}),
                ]

    dashboard, export, sso = asyncio.run(main())

    assert (dashboard.status_code, dashboard.json()) == (200, {"dashboard": account_id})
    assert export.status_code == 403
    assert export.json() == {
        "error": "plan_required",
        "required_plan": "pro",
        "reason": "no_subscription",
    }
    assert sso.status_code == 403
    assert sso.json() == {
        "error": "feature_required",
        "feature": "sso",
        "required_plan": "enterprise",
        "reason": "no_subscription",
    }


def test_grpc_aio_servicer_methods_abort_with_permission_denied(
    billing_server: BillingServer, account_id: str
) -> None:
    async def main() -> tuple[bytes, grpc.aio.AioRpcError]:
        async with AsyncBillingClient(
            billing_server.target,
            service_name="client-e2e",
            insecure=True,
            token=billing_server.token,
        ) as client:

            @grpc_requires_plan(
                "free", account=lambda request, context: request.decode(), client=client
            )
            async def view(
                request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
            ) -> bytes:
                return b"viewed"

            @grpc_requires_plan(
                "pro", account=lambda request, context: request.decode(), client=client
            )
            async def export(
                request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]
            ) -> bytes:
                return b"exported"

            handler = grpc.method_handlers_generic_handler(
                "reports.v1.Reports",
                {
                    "View": grpc.unary_unary_rpc_method_handler(view),
                    "Export": grpc.unary_unary_rpc_method_handler(export),
                },
            )
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((handler,))
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    view_call: Any = channel.unary_unary("/reports.v1.Reports/View")
                    export_call: Any = channel.unary_unary("/reports.v1.Reports/Export")
                    viewed: bytes = await view_call(account_id.encode(), timeout=5)
                    with pytest.raises(grpc.aio.AioRpcError) as denied:
                        await export_call(account_id.encode(), timeout=5)
            finally:
                await server.stop(None)
            return viewed, denied.value

    viewed, denied = asyncio.run(main())

    assert viewed == b"viewed"
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    error = from_rpc_error(denied)
    assert isinstance(error, PermissionDenied)
    assert error.reason == "PLAN_REQUIRED"
    assert error.metadata["required_plan"] == "pro"
