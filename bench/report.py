"""Turning what the load processes and /proc saw into figures and a table."""

from collections import Counter
from dataclasses import dataclass

from bench.loadgen import WorkerReport
from bench.procstat import CpuSample


@dataclass(frozen=True)
class Figures:
    """One phase's results against one server."""

    name: str
    points: int
    ok_requests: int
    errors: Counter[str]
    error_sample: str
    exhausted: bool
    wall_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    postgres_cpu_s: float
    redis_cpu_s: float
    loadgen_cpu_s: float
    machine_busy_s: float
    machine_total_s: float

    @property
    def rate(self) -> float:
        """Accepted points per second of the load phase."""
        return self.points / self.wall_s if self.wall_s > 0 else 0.0

    def per_k(self, cpu_s: float) -> float:
        """CPU seconds per 1,000 accepted points."""
        return cpu_s * 1000 / self.points if self.points else float("nan")

    @property
    def other_cpu_s(self) -> float:
        """CPU of everything else on the machine meanwhile (kernel, other programs)."""
        ours = self.server_cpu_s + self.postgres_cpu_s + self.redis_cpu_s + self.loadgen_cpu_s
        return max(0.0, self.machine_busy_s - ours)

    @property
    def failed(self) -> int:
        """Requests that were not answered 201."""
        return sum(self.errors.values())


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(
    name: str,
    start_at: float,
    reports: list[WorkerReport],
    before: CpuSample,
    after: CpuSample,
    postgres_cpu_s: float,
) -> Figures:
    """Figures of a phase from the processes' reports and CPU samples around it."""
    latencies = [lat for r in reports for lat in r.latencies_s]
    errors: Counter[str] = Counter()
    for r in reports:
        errors.update(r.errors)
    ends = [r.last_done for r in reports if r.last_done]
    return Figures(
        name=name,
        points=sum(r.accepted_points for r in reports),
        ok_requests=sum(r.ok_requests for r in reports),
        errors=errors,
        error_sample=next((r.error_sample for r in reports if r.error_sample), ""),
        exhausted=any(r.exhausted for r in reports),
        wall_s=max(ends) - start_at if ends else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        server_cpu_s=after.server - before.server,
        postgres_cpu_s=postgres_cpu_s,
        redis_cpu_s=after.redis - before.redis,
        loadgen_cpu_s=sum(r.cpu_s for r in reports),
        machine_busy_s=after.machine.busy - before.machine.busy,
        machine_total_s=after.machine.total - before.machine.total,
    )


def _rows(f: Figures) -> list[str]:
    busy = 100 * f.machine_busy_s / f.machine_total_s if f.machine_total_s else 0.0
    cores = f.wall_s or 1.0
    return [
        f"{f.ok_requests:,} / {f.failed:,}",
        f"{f.points:,}",
        f"{f.wall_s:.2f}",
        f"{f.rate:,.1f}",
        f"{f.p50_ms:.1f} / {f.p99_ms:.1f}",
        f"{f.per_k(f.server_cpu_s):.4f}",
        f"{f.per_k(f.postgres_cpu_s):.4f}",
        f"{f.per_k(f.redis_cpu_s):.4f}",
        f"{f.per_k(f.loadgen_cpu_s):.4f}",
        f"{f.per_k(f.machine_busy_s):.4f}",
        f"{busy:.0f} %",
        " / ".join(
            f"{cpu / cores:.2f}"
            for cpu in (f.server_cpu_s, f.postgres_cpu_s, f.redis_cpu_s, f.other_cpu_s)
        ),
    ]


_LABELS = [
    "requests 201 / other",
    "points accepted",
    "load phase wall time (s)",
    "points/s",
    "latency p50 / p99 (ms)",
    "server CPU s / 1k points",
    "PostgreSQL CPU s / 1k points",
    "Redis CPU s / 1k points",
    "load generator CPU s / 1k points",
    "whole machine CPU s / 1k points",
    "machine busy (all cores)",
    "cores: server / PG / Redis / other",
]


def table(figures: list[Figures]) -> str:
    """A plain-text table, one column per server."""
    columns = [[f.name, *_rows(f)] for f in figures]
    labels = ["", *_LABELS]
    width = max(len(label) for label in labels)
    widths = [max(len(cell) for cell in col) for col in columns]
    lines = []
    for i, label in enumerate(labels):
        cells = [col[i].rjust(w) for col, w in zip(columns, widths, strict=True)]
        lines.append("  ".join([label.ljust(width), *cells]))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def result_line(fleetbed: Figures, baseline: Figures) -> str:
    """The machine-readable last line."""
    ratio = fleetbed.rate / baseline.rate if baseline.rate else float("inf")
    return (
        f"RESULT ingest points_per_s={fleetbed.rate:.1f} "
        f"baseline={baseline.rate:.1f} ratio={ratio:.2f}"
    )
