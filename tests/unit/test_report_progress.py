"""The report's progress line: silent on short runs, a line a second on long ones."""

from __future__ import annotations

import io

import pytest

from billing_server.entrypoints.admin_reports import ProgressLine

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_short_run_prints_nothing() -> None:
    out, clock = io.StringIO(), Clock()
    progress = ProgressLine(out, clock)
    for done in (1000, 2000, 2500):
        clock.now += 0.2
        progress(done, 2500)

    assert out.getvalue() == ""


def test_a_long_run_says_how_far_it_is_at_most_once_a_second_and_ends_the_line() -> None:
    out, clock = io.StringIO(), Clock()
    progress = ProgressLine(out, clock)
    for done in range(1000, 10_001, 1000):
        clock.now += 0.6
        progress(done, 10_000)

    assert out.getvalue().split("\r")[1:] == [
        "report: read 2,000 of 10,000 stored events",
        "report: read 4,000 of 10,000 stored events",
        "report: read 6,000 of 10,000 stored events",
        "report: read 8,000 of 10,000 stored events",
        "report: read 10,000 of 10,000 stored events\n",
    ]
