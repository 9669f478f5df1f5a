"""OpenTelemetry tracing, on only when an OTLP endpoint is configured.

OpenTelemetry's standard variables apply: OTEL_EXPORTER_OTLP_ENDPOINT (or
..._TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED. Without an endpoint nothing is
set up and the hot paths skip span creation altogether.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def exporter_configured(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service_name: str, exporter: SpanExporter | None = None) -> bool:
    """Installs a tracer provider exporting over OTLP (or to `exporter`, for
    tests); returns whether tracing is on."""
    if exporter is None:
        if not exporter_configured():
            return False
        # Imported here: without an endpoint the exporter is never loaded.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
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
