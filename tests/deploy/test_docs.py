"""The runbooks name commands, metrics and settings that exist, and their
SQL runs against the real schema."""

from __future__ import annotations

import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric
from sqlalchemy import create_engine, text

from billing_server.adapters.account_repository import CHANGES_CHANNEL
from billing_server.bootstrap import GaugeReadings
from billing_server.domain.stored_events import Backlog
from billing_server.entrypoints.metrics import ServerMetrics
from tests.deploy.code_facts import ROOT, admin_command_problem, is_env_read, split_admin_argv
from webhook_gateway.metrics import GatewayMetrics

DOCS = sorted((ROOT / "docs").glob("*.md"))
# The README's commands and settings are checked the same way.
WITH_README = [ROOT / "README.md", *DOCS]
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("", "_bucket", "_count", "_sum")}


def code_spans(path: Path) -> Iterator[str]:
    """The text of fenced blocks (line by line) and inline code spans."""
    body = path.read_text()
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", body, re.DOTALL | re.MULTILINE):
        yield from block.splitlines()
    prose = re.sub(r"^```.*?^```", "", body, flags=re.DOTALL | re.MULTILINE)
    yield from re.findall(r"`([^`\n]+)`", prose.replace("\n", " "))


def admin_invocations(path: Path) -> Iterator[list[str]]:
    for span in code_spans(path):
        for match in re.finditer(r"billing-admin((?:\s+[^\s#|;&`]+)*)", span):
            yield shlex.split(match.group(1).replace("<", "'<").replace(">", ">'"))


def metric_names() -> set[str]:
    names: set[str] = set()
    family: Metric
    metrics = ServerMetrics.create()
    # The gauges read at scrape time, with stand-ins for what they read.
    metrics.watch_database(
        GaugeReadings(
            subscription_counts=lambda: [("pro", "active", 1)],
            pool_connections=lambda: {"in_use": 0, "idle": 1, "overflow": 0},
            backlog=lambda: Backlog({"received": 0}, None, 0),
        ),
        cache_s=0,
    )
    metrics.watch_intake(lambda: 0)
    for registry in (metrics.registry, GatewayMetrics.create().registry):
        for family in registry.collect():
            names.update(family.name + s for s in SAMPLE_SUFFIXES.get(family.type, ("",)))
    return names


@pytest.mark.unit
@pytest.mark.parametrize("path", WITH_README, ids=lambda p: p.name)
def test_every_billing_admin_command_exists(path: Path) -> None:
    problems = {
        problem
        for argv in admin_invocations(path)
        if argv and (problem := admin_command_problem(*split_admin_argv(argv)))
    }
    assert not problems, problems


@pytest.mark.unit
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_metric_named_exists(path: Path) -> None:
    named = set(re.findall(r"\bpaymentsvc_[a-z_]+\b", path.read_text()))
    # The other lower-case name operators meet: the NOTIFY channel.
    known = metric_names() | {CHANGES_CHANNEL}
    assert named <= known, named - known


@pytest.mark.unit
@pytest.mark.parametrize("path", WITH_README, ids=lambda p: p.name)
def test_every_setting_named_is_read_by_the_code(path: Path) -> None:
    named = set(re.findall(r"\b(?:PAYMENTSVC|STRIPE|OTEL|SENTRY)_[A-Z_]+\b", path.read_text()))
    # The test suite's own (`make test` on PostgreSQL), and make dev's.
    read_elsewhere = set(
        re.findall(r"[\"'$]\{?([A-Z][A-Z0-9_]+)", sources_of_the_suite_and_make_dev())
    )
    unknown = {name for name in named if not is_env_read(name) and name not in read_elsewhere}
    assert not unknown, unknown


def sources_of_the_suite_and_make_dev() -> str:
    return (ROOT / "tests" / "conftest.py").read_text() + (ROOT / "scripts" / "dev").read_text()


def sql_blocks(tag: str) -> list[str]:
    """Statements of the ```sql blocks in data.md whose first line is `-- gdpr:TAG`."""
    body = (ROOT / "docs" / "data.md").read_text()
    statements: list[str] = []
    for block in re.findall(r"^```sql\n(.*?)^```", body, re.DOTALL | re.MULTILINE):
        if block.startswith(f"-- gdpr:{tag}\n"):
            # psql's :'name' becomes a bound parameter.
            block = re.sub(r":'(\w+)'", r":\1", block)
            statements += [s.strip() for s in block.split(";") if s.strip()]
    assert statements, f"no gdpr:{tag} block"
    return [s for s in statements if s.split()[-1].upper() not in ("BEGIN", "COMMIT")]


PERSONAL_ROWS = (
    "INSERT INTO accounts (account_id, stripe_customer_id, state_version, created_at)"
    " VALUES (:account_id, :customer_id, 1, '2026-01-01 00:00:00+00')",
    "INSERT INTO subscriptions (stripe_subscription_id, account_id, stripe_customer_id, plan,"
    " stripe_price_id, stripe_item_id, status, cancel_at_period_end, stripe_created_at,"
    " stripe_state_at, updated_at) VALUES (:subscription_id, :account_id, :customer_id, 'pro',"
    " 'price_1', 'si_1', 'active', false, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00',"
    " '2026-01-01 00:00:00+00')",
    "INSERT INTO audit_log (occurred_at, actor, action, account_id, outcome)"
    " VALUES ('2026-01-01 00:00:00+00', 'test', 'ChangePlan', :account_id, 'ok')",
    "INSERT INTO stripe_events (event_id, type, created_at, payload, status, attempts,"
    " customer_id, received_at) VALUES (:event_id, 'customer.subscription.updated',"
    " '2026-01-01 00:00:00+00', '{}', 'processed', 1, :customer_id, '2026-01-01 00:00:00+00')",
    "INSERT INTO stripe_events (event_id, type, created_at, payload, status, attempts,"
    " received_at) VALUES (:other_event_id, 'checkout.session.completed',"
    " '2026-01-01 00:00:00+00', :payload, 'deferred', 1, '2026-01-01 00:00:00+00')",
)


@pytest.mark.integration
def test_the_documented_gdpr_queries_export_then_erase_an_account(database_url: str) -> None:
    suffix = uuid.uuid4().hex[:12]
    params = {
        "account_id": f"acct_{suffix}",
        "customer_id": f"cus_{suffix}",
        "subscription_id": f"sub_{suffix}",
        "event_id": f"evt_{suffix}",
        "other_event_id": f"evt_other_{suffix}",
        "payload": f'{{"data": {{"object": {{"customer": "cus_{suffix}"}}}}}}',
    }
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            for statement in PERSONAL_ROWS:
                connection.execute(text(statement), params)
        with engine.connect() as connection:
            (customers,) = [
                {row[0] for row in connection.execute(text(s), params)}
                for s in sql_blocks("customers")
            ]
            exported = [
                len(connection.execute(text(s), params).all()) for s in sql_blocks("export")
            ]
        assert customers == {params["customer_id"]}
        assert exported == [1, 1, 1, 2]
        with engine.begin() as connection:
            for statement in sql_blocks("erase"):
                connection.execute(text(statement), params)
        with engine.connect() as connection:
            left = [len(connection.execute(text(s), params).all()) for s in sql_blocks("export")]
        assert left == [0, 0, 0, 0]
    finally:
        engine.dispose()


def anchors(path: Path) -> set[str]:
    """The #anchors of a page's headings, as GitHub makes them."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


@pytest.mark.unit
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_link_to_a_page_or_section_resolves(path: Path) -> None:
    broken = []
    for page, anchor in re.findall(r"\]\(([\w.-]*\.md)?(?:#([\w-]+))?\)", path.read_text()):
        target = path.parent / page if page else path
        if not target.exists() or (anchor and anchor not in anchors(target)):
            broken.append(f"{page}#{anchor}")
    assert broken == []
