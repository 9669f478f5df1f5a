"""Every metric the alert rules and the dashboard query is one that a
running server or gateway exports (or a series the rules record, or one
that Prometheus or kube-state-metrics provides)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.monitoring_files import (
    EXTERNAL_METRICS,
    dashboard_metric_names,
    recorded_names,
    rule_metric_names,
)
from tests.e2e.conftest import BillingServer, Gateway

pytestmark = pytest.mark.e2e

# The sample names a family of each type exposes.
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def exported(url: str) -> set[str]:
    """Every sample name /metrics declares, labelled children or not yet."""
    text = httpx.get(url, timeout=5).raise_for_status().text
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SAMPLE_SUFFIXES.get(family.type, ("",))
    }


@pytest.fixture(scope="module")
def exported_names(billing_server: BillingServer, gateway: Gateway) -> set[str]:
    server = exported(billing_server.metrics_url)
    from_gateway = exported(f"{gateway.url}/metrics")
    # Sanity: each scrape holds what the process is known for.
    assert "paymentsvc_grpc_server_handled_total" in server
    assert "paymentsvc_gateway_webhook_requests_total" in from_gateway
    return server | from_gateway | recorded_names() | set(EXTERNAL_METRICS)


def test_every_metric_the_alert_rules_use_is_exported(exported_names: set[str]) -> None:
    used = rule_metric_names()
    assert used - exported_names == set()


def test_every_metric_the_dashboard_queries_is_exported(exported_names: set[str]) -> None:
    used = dashboard_metric_names()
    assert used - exported_names == set()
