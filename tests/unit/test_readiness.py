"""Readiness from several conditions."""

from __future__ import annotations

import pytest

from billing_server.entrypoints.readiness import Readiness

pytestmark = pytest.mark.unit


def test_ready_only_while_every_condition_holds_from_the_start() -> None:
    reported: list[bool] = []
    readiness = Readiness(reported.append, view=True, database=True)
    assert reported == [True]  # already ready: said at once
    readiness.set("database", False)
    readiness.setter("database")(True)
    waiting = Readiness(reported.append, view=False, database=True)
    waiting.set("view", True)
    assert reported == [True, False, True, False, True]
