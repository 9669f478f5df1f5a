"""Throughput and latency figures, and printing them side by side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of values sorted ascending (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Summary:
    """One measured run: completed calls, failures, and latency in seconds."""

    label: str
    ok: int
    failed: int
    duration_s: float
    p50: float
    p90: float
    p99: float
    max: float

    @property
    def rate(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    @classmethod
    def of(cls, label: str, latencies: Sequence[float], failed: int, duration_s: float) -> Summary:
        ordered = sorted(latencies)
        return cls(
            label,
            len(ordered),
            failed,
            duration_s,
            percentile(ordered, 50),
            percentile(ordered, 90),
            percentile(ordered, 99),
            ordered[-1] if ordered else 0.0,
        )


def table(rows: Sequence[Summary], unit: str = "rps") -> str:
    head = f"{'':<28}{unit:>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    head += f"{'ok':>9}{'failed':>8}"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.label:<28}{r.rate:>10.0f}{r.p50 * 1e3:>9.2f}{r.p90 * 1e3:>9.2f}"
            f"{r.p99 * 1e3:>9.2f}{r.max * 1e3:>9.1f}{r.ok:>9}{r.failed:>8}"
        )
    return "\n".join(lines)


def ratio_line(measured: Summary, reference: Summary) -> str:
    """The throughput ratio and the p99 ratio of a run to its reference."""
    rate = measured.rate / reference.rate if reference.rate else float("nan")
    p99 = measured.p99 / reference.p99 if reference.p99 else float("nan")
    return (
        f"{measured.label} / {reference.label}: throughput x{rate:.3g}, "
        f"p50 x{measured.p50 / reference.p50 if reference.p50 else float('nan'):.1f}, "
        f"p99 x{p99:.1f}"
    )
