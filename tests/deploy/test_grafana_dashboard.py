"""The Grafana dashboard imports as is: a Prometheus data-source variable
that every query uses, unique panel ids, panels that do not overlap, and a
row for each part of the service."""

from __future__ import annotations

import pytest

from tests.deploy.monitoring_files import dashboard, dashboard_panels

pytestmark = pytest.mark.unit

ROWS = {
    "RPCs",
    "Webhooks: intake",
    "Webhooks: applying",
    "Stripe",
    "Subscriptions and payments",
    "Database",
}


def test_the_data_source_is_a_variable_every_query_uses() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = list(dashboard_panels())
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_there_is_a_row_for_each_part_of_the_service() -> None:
    rows = {p["title"] for p in dashboard_panels() if p["type"] == "row"}
    assert rows == ROWS
    # Not already bound to someone's Grafana: importable anywhere.
    assert "id" not in dashboard() or dashboard()["id"] is None
