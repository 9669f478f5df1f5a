"""OTEL_EXPORTER_OTLP_PROTOCOL picks the transport, as the specification says."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from paymentsvc_observability.tracing import CONVENTIONAL_PORTS, otlp_exporter, otlp_protocol

pytestmark = pytest.mark.integration


class Received:
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.paths: list[str] = []

    def span_names(self) -> list[str]:
        return [
            span.name
            for request in self.requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def http_collector() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.paths.append(self.path)
            received.requests.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def grpc_collector() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.requests.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(2))
    register: Any = trace_service_pb2_grpc.add_TraceServiceServicer_to_server  # untyped
    register(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(None)


def export_one_span(exporter: SpanExporter, name: str) -> None:
    provider = TracerProvider()
    results: list[SpanExportResult] = []

    class Recording(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            results.append(exporter.export(spans))
            return results[-1]

    provider.add_span_processor(SimpleSpanProcessor(Recording()))
    with provider.get_tracer("tests").start_as_current_span(name):
        pass
    provider.shutdown()
    exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS]


def test_http_protobuf_is_the_default_and_posts_to_v1_traces(
    http_collector: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = http_collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    export_one_span(otlp_exporter(), "over-http")
    assert received.paths == ["/v1/traces"]
    assert received.span_names() == ["over-http"]


def test_grpc_speaks_to_an_otlp_grpc_receiver(
    grpc_collector: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = grpc_collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    export_one_span(otlp_exporter(), "over-grpc")
    assert received.span_names() == ["over-grpc"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        # The signal's own variable wins over the general one.
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            "http/protobuf",
        ),
        # Not supported here: warned about and ignored.
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/protobuf"),
    ],
)
def test_the_protocol_variables(env: dict[str, str], expected: str) -> None:
    assert otlp_protocol(env) == expected
    assert expected in CONVENTIONAL_PORTS
