"""OpenTelemetry tracing, on only when an OTLP endpoint is configured.

OpenTelemetry's standard variables apply: OTEL_EXPORTER_OTLP_ENDPOINT (or
..._TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_PROTOCOL (or ..._TRACES_PROTOCOL:
`http/protobuf`, the default, or `grpc`), OTEL_EXPORTER_OTLP_HEADERS,
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED. Without an
endpoint nothing is set up and the hot paths skip span creation altogether.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

log = logging.getLogger(__name__)

HTTP_PROTOBUF, GRPC = "http/protobuf", "grpc"
# The specification's default, and the port each protocol's collector
# receiver listens on by convention.
DEFAULT_PROTOCOL = HTTP_PROTOBUF
CONVENTIONAL_PORTS = {GRPC: 4317, HTTP_PROTOBUF: 4318}


def exporter_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def otlp_protocol(env: Mapping[str, str] | None = None) -> str:
    """The transport the traces exporter speaks, as the specification reads
    the variables: the signal's own first, then the general one."""
    env = os.environ if env is None else env
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = env.get(name, "").strip()
        if not value:
            continue
        if value in CONVENTIONAL_PORTS:
            return value
        # The specification: warn about a value not supported, and ignore it.
        log.warning("%s=%s is not supported (use grpc or %s): ignored", name, value, HTTP_PROTOBUF)
    return DEFAULT_PROTOCOL


def otlp_exporter(env: Mapping[str, str] | None = None) -> SpanExporter:
    """The OTLP exporter for the configured protocol; it reads the endpoint,
    headers and timeout from the environment itself."""
    # Imported here: without an endpoint no exporter is ever loaded.
    if otlp_protocol(env) == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter()


def configure_tracing(service_name: str, exporter: SpanExporter | None = None) -> bool:
    """Installs a tracer provider exporting over OTLP (or to `exporter`, for
    tests); returns whether tracing is on."""
    if exporter is None:
        if not exporter_configured():
            return False
        exporter = otlp_exporter()
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def context_from(metadata: Iterable[tuple[str, str | bytes]]) -> Context:
    """The caller's trace context from gRPC metadata or HTTP headers (W3C)."""
    carrier = {k.lower(): v for k, v in metadata if isinstance(v, str)}
    return propagate.extract(carrier)


def outgoing_headers() -> list[tuple[str, str]]:
    """W3C trace context of the current span, to send along."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return list(carrier.items())
