"""Trip export benchmark: the real `fleetbed serve` streaming against a naive baseline.

Run as `python -m bench.export [--quick] [--profile FILE]` (or `make bench-export`).
A million closed trips (100,000 with --quick) are generated in the bench database, then
downloaded over HTTP from `GET /v1/exports/trips` as CSV and as Parquet, first from
fleetbed (raw privacy, city auditor key), then from bench.naive_export; the last line is
`RESULT export rows_per_s=<fleetbed csv> baseline=<naive csv> ratio=<fleetbed/baseline>`.
"""

import argparse
import asyncio
import csv
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from bench.geofence import table
from bench.ingest import PY_SPY, _exit_on_sigterm, say, start_profiler, stop_profiler
from bench.procstat import PostgresMeter, machine_cpu, tree_cpu
from bench.services import (
    BenchError,
    ServerProcess,
    database_name,
    fleetbed_cli,
    require_loopback,
    reset_stores,
    server_env,
    start_fleetbed,
)
from bench.trip_data import TripSet, generate

DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/fleetbed_bench"
# Redis dbs 10-15 belong to the test suites and the other benchmarks.
REDIS_URL = "redis://127.0.0.1:6379/9"
PROVIDERS = 3
FORMATS = ("csv", "parquet")
CSV_TARGET_ROWS_S = 200_000
RSS_TARGET_MB = 150.0
# Longest silence while reading an answer: a stream should never pause for long; the
# baseline answers only once the whole file is built, minutes for a million rows.
STREAM_STALL_S = 120.0
BASELINE_STALL_S = 1800.0
_KB = 1024
_MB = 2**20


@dataclass(frozen=True)
class Plan:
    """What to run."""

    trips: int
    vehicles: int
    days: int
    baseline_formats: tuple[str, ...]
    database_url: str
    redis_url: str
    profile: Path | None


def parse_args(argv: list[str] | None) -> Plan:
    """The command line as a plan; --quick shrinks the data."""
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 trips, 2,000 vehicles")
    parser.add_argument("--trips", type=int, default=1_000_000)
    parser.add_argument("--vehicles", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7, help="days the trips' ends spread over")
    parser.add_argument(
        "--baseline-formats",
        default=",".join(FORMATS),
        help="formats the naive baseline is measured in (comma-separated; csv is required)",
    )
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the fleetbed server with py-spy (raw format), FILE.EXT as FILE.<format>.EXT",
    )
    args = parser.parse_args(argv)
    formats = tuple(f for f in args.baseline_formats.split(",") if f)
    if "csv" not in formats or not set(formats) <= set(FORMATS):
        parser.error(f"--baseline-formats: csv plus any of {', '.join(FORMATS)}")
    return Plan(
        trips=100_000 if args.quick else args.trips,
        vehicles=2_000 if args.quick else args.vehicles,
        days=args.days,
        baseline_formats=formats,
        database_url=args.database_url,
        redis_url=args.redis_url,
        profile=args.profile,
    )


def _status_bytes(pid: int) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status (VmRSS, VmHWM...) in bytes; empty when it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.split() for line in lines if line.endswith(" kB"))
    return {f[0].rstrip(":"): int(f[1]) * _KB for f in fields if len(f) == 3}


def rss(pid: int) -> int:
    """Resident set size of a process in bytes (0 when it is gone)."""
    return _status_bytes(pid).get("VmRSS", 0)


class RssMeter:
    """A process's resident memory, polled from /proc while something runs.

    The kernel's own high-water mark (VmHWM) is reset at the start where /proc allows it
    (`clear_refs` 5), so a peak between two polls is not missed.
    """

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.before = 0
        self.peak = 0
        self._hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss(self.pid))

    def start(self) -> None:
        """Take the starting reading and begin polling."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._hwm_reset = True
        except OSError:
            self._hwm_reset = False
        self.before = self.peak = rss(self.pid)
        self._thread.start()

    def stop(self) -> int:
        """Stop polling; the peak in bytes since `start`."""
        self._stop.set()
        self._thread.join(timeout=5)
        status = _status_bytes(self.pid)
        self.peak = max(self.peak, status.get("VmRSS", 0))
        if self._hwm_reset:
            self.peak = max(self.peak, status.get("VmHWM", 0))
        return self.peak


@dataclass
class Body:
    """What came back: status, size, times and the rows counted in it."""

    status: int = 0
    size: int = 0
    rows: int = 0
    ttfb_s: float = 0.0
    wall_s: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Download:
    """One export downloaded from one server, with what it cost."""

    server: str
    format: str
    body: Body
    rss_before: int
    rss_peak: int
    server_cpu_s: float
    postgres_cpu_s: float
    client_cpu_s: float
    machine_busy_s: float
    machine_total_s: float

    @property
    def name(self) -> str:
        """Column title."""
        return f"{self.server} {self.format}"

    @property
    def rate(self) -> float:
        """Rows received per second, from sending the request to the last byte."""
        return self.body.rows / self.body.wall_s if self.body.wall_s > 0 else 0.0

    @property
    def other_cpu_s(self) -> float:
        """CPU of everything else on the machine meanwhile (kernel, other programs)."""
        ours = self.server_cpu_s + self.postgres_cpu_s + self.client_cpu_s
        return max(0.0, self.machine_busy_s - ours)

    @property
    def growth_mb(self) -> float:
        """How far the server's resident memory rose above where it stood before."""
        return (self.rss_peak - self.rss_before) / _MB


class CsvCounter:
    """Counts the records of a CSV body chunk by chunk; checks the first and last line."""

    def __init__(self) -> None:
        self.head = b""
        self.tail = b""
        self.newlines = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk."""
        if len(self.head) < 64 * _KB:
            self.head += chunk[: 64 * _KB]
        self.newlines += chunk.count(b"\n")
        self.tail = (self.tail + chunk)[-64 * _KB :]

    def rows(self) -> int:
        """Data rows (lines after the header); BenchError if the file is not well-formed."""
        if not self.head:
            raise BenchError("empty CSV body")
        lines = self.newlines + (0 if self.tail.endswith(b"\n") else 1)
        header = next(csv.reader([self.head.split(b"\n", 1)[0].decode()]))
        if "trip_id" not in header:
            raise BenchError(f"CSV header without trip_id: {header}")
        last = self.tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].decode()
        fields = next(csv.reader([last]))
        if lines > 1 and len(fields) != len(header):
            raise BenchError(f"last CSV row has {len(fields)} fields, header {len(header)}")
        return lines - 1


def _receive(
    resp: httpx.Response, body: Body, started: float, sink: Callable[[bytes], object]
) -> None:
    for chunk in resp.iter_bytes():
        if not body.size:
            body.ttfb_s = time.perf_counter() - started
        body.size += len(chunk)
        sink(chunk)


@dataclass(frozen=True)
class Target:
    """A server to download from: its process, the key it wants, how long it may pause."""

    server: ServerProcess
    key: str | None
    stall_s: float


def fetch(target: Target, params: dict[str, str], fmt: str, parquet_to: Path) -> Body:
    """GET the export, streaming; rows counted from the CSV lines or the Parquet footer."""
    headers = {"Authorization": f"Bearer {target.key}"} if target.key else {}
    timeout = httpx.Timeout(30.0, read=target.stall_s)
    body = Body()
    started = time.perf_counter()
    try:
        with (
            httpx.Client(base_url=target.server.base_url, timeout=timeout) as client,
            client.stream("GET", "/v1/exports/trips", params=params, headers=headers) as resp,
        ):
            body.status = resp.status_code
            if resp.status_code != 200:
                body.error = f"HTTP {resp.status_code}: {resp.read()[:500]!r}"
                return body
            if fmt == "csv":
                counter = CsvCounter()
                _receive(resp, body, started, counter.feed)
            else:
                with parquet_to.open("wb") as sink:
                    _receive(resp, body, started, sink.write)
        body.wall_s = time.perf_counter() - started
        body.rows = counter.rows() if fmt == "csv" else pq.read_metadata(parquet_to).num_rows
    except (httpx.HTTPError, BenchError, OSError, ValueError) as exc:
        body.error = f"{type(exc).__name__}: {exc}"
    finally:
        parquet_to.unlink(missing_ok=True)
    return body


def window(trips: TripSet, length: timedelta | None = None) -> dict[str, str]:
    """Query parameters for the trips' window (or its first `length`), raw privacy."""
    end = trips.end if length is None else trips.start + length
    return {"from": _rfc3339(trips.start), "to": _rfc3339(end), "privacy": "raw"}


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def measure(
    target: Target, fmt: str, params: dict[str, str], plan: Plan, logs: Path, profile: Path | None
) -> Download:
    """One download, with the server's memory and CPU and the machine's read around it."""
    server = target.server
    say(f"{server.name}: downloading {fmt}")
    meter = RssMeter(server.pid)
    postgres = PostgresMeter(database_name(plan.database_url))
    profiler = start_profiler(server.pid, 3600, profile) if profile else None
    if profiler is not None:
        time.sleep(1.0)  # py-spy attaches before the clock starts
    server_cpu, client_cpu, machine = tree_cpu(server.pid), time.process_time(), machine_cpu()
    meter.start()
    postgres.start()
    try:
        body = fetch(target, {**params, "format": fmt}, fmt, logs / f"body.{fmt}")
    finally:
        peak = meter.stop()
        postgres_cpu = postgres.stop()
        if profiler is not None and profile is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            say(stop_profiler(profiler, profile))
    after = machine_cpu()
    if server.process.poll() is not None:
        body.error = body.error or f"{server.name} exited:\n{server.log_tail()}"
    return Download(
        server=server.name,
        format=fmt,
        body=body,
        rss_before=meter.before,
        rss_peak=peak,
        server_cpu_s=tree_cpu(server.pid) - server_cpu,
        postgres_cpu_s=postgres_cpu,
        client_cpu_s=time.process_time() - client_cpu,
        machine_busy_s=after.busy - machine.busy,
        machine_total_s=after.total - machine.total,
    )


@dataclass(frozen=True)
class ServerRun:
    """A server's downloads, and its memory when fresh and after the warm-up."""

    downloads: list[Download]
    rss_fresh: int
    rss_warm: int


def run_server(
    target: Target,
    formats: tuple[str, ...],
    trips: TripSet,
    plan: Plan,
    logs: Path,
    profile: Path | None = None,
) -> ServerRun:
    """Warm up on a ten-minute window in every format (imports, pool), then measure each;
    with `profile` (FILE.EXT), py-spy records each download into FILE.<format>.EXT."""
    rss_fresh = rss(target.server.pid)
    for fmt in formats:
        params = {**window(trips, timedelta(minutes=10)), "format": fmt}
        warm = fetch(target, params, fmt, logs / f"warm.{fmt}")
        if warm.error:
            say(f"{target.server.name}: the warm-up {fmt} export failed: {warm.error}")
    rss_warm = rss(target.server.pid)
    downloads = [
        measure(
            target,
            fmt,
            window(trips),
            plan,
            logs,
            profile.with_name(f"{profile.stem}.{fmt}{profile.suffix}") if profile else None,
        )
        for fmt in formats
    ]
    return ServerRun(downloads, rss_fresh, rss_warm)


def start_naive(database_url: str, logs: Path) -> ServerProcess:
    """bench.naive_export under uvicorn on a free loopback port."""
    argv = [sys.executable, "-m", "bench.naive_export", "--database-url", database_url]
    return ServerProcess("naive", argv, dict(os.environ), logs / "naive.log")


def prepare(plan: Plan) -> tuple[str, TripSet]:
    """Bench database ready and empty, providers, trips and a city auditor key."""
    for url in (plan.database_url, plan.redis_url):
        require_loopback(url)
    if plan.profile is not None and not PY_SPY.exists():
        raise BenchError(f"--profile needs py-spy: {PY_SPY.parent}/pip install py-spy")
    env = server_env(plan.database_url, plan.redis_url)
    say("bootstrapping the bench database")
    fleetbed_cli(env, "bootstrap")
    emptied = reset_stores(plan.database_url, [plan.redis_url])
    say(f"emptied {len(emptied)} tables and Redis db {plan.redis_url.rsplit('/', 1)[-1]}")
    tag = secrets.token_hex(4)
    providers = [
        uuid.UUID(fleetbed_cli(env, "admin", "create-provider", "--name", f"bench-{tag}-{n}"))
        for n in range(PROVIDERS)
    ]
    key = fleetbed_cli(env, "admin", "create-key", "--role", "city_auditor")
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    say(f"generating {plan.trips:,} trips of {plan.vehicles:,} vehicles over {plan.days} days")
    trips = asyncio.run(
        generate(
            plan.database_url,
            provider_ids=providers,
            trips=plan.trips,
            vehicles=plan.vehicles,
            start=end - timedelta(days=plan.days),
            end=end,
        )
    )
    say(f"{trips.trips:,} trips in {trips.insert_s:.1f} s (table {trips.table_mb:,.0f} MiB)")
    if trips.trips != plan.trips:
        raise BenchError(f"{trips.trips:,} trips in the window, {plan.trips:,} asked for")
    return key, trips


def _mib(n: float) -> str:
    return f"{n / _MB:,.1f}"


def _column(d: Download) -> list[str]:
    b = d.body
    return [
        str(b.status),
        f"{b.rows:,}",
        _mib(b.size),
        f"{b.ttfb_s:.2f}",
        f"{b.wall_s:.2f}",
        f"{d.rate:,.0f}",
        f"{b.size / _MB / b.wall_s:,.1f}" if b.wall_s else "-",
        _mib(d.rss_before),
        _mib(d.rss_peak),
        f"{d.growth_mb:,.1f}",
        f"{d.server_cpu_s:.2f}",
        f"{d.postgres_cpu_s:.2f}",
        f"{d.client_cpu_s:.2f}",
        f"{d.server_cpu_s * 1e6 / b.rows:.2f}" if b.rows else "-",
        f"{d.other_cpu_s:.2f}",
        f"{100 * d.machine_busy_s / d.machine_total_s:.0f} %" if d.machine_total_s else "-",
    ]


_LABELS = [
    "HTTP status",
    "rows received",
    "MiB received",
    "time to first byte (s)",
    "wall time (s)",
    "rows/s",
    "MiB/s",
    "server RSS before (MiB)",
    "server RSS peak (MiB)",
    "server RSS growth (MiB)",
    "server CPU (s)",
    "PostgreSQL CPU (s)",
    "client CPU (s)",
    "server CPU µs / row",
    "other CPU on the machine (s)",
    "machine busy (all cores)",
]


def print_report(
    plan: Plan, trips: TripSet, runs: dict[str, ServerRun], load: tuple[float, float]
) -> None:
    """The table and the notes a reader needs to weigh it."""
    downloads = [d for run in runs.values() for d in run.downloads]
    print()
    print(
        f"{trips.trips:,} closed trips of {trips.vehicles:,} vehicles ({PROVIDERS} providers), "
        f"ends over {plan.days} days; trips table {trips.table_mb:,.0f} MiB; "
        f"{os.cpu_count()} cores, load average {load[0]:.2f} before / {load[1]:.2f} after"
    )
    # Labels padded to one width read left-aligned in the right-aligned table.
    width = max(map(len, _LABELS))
    columns = zip(_LABELS, *map(_column, downloads), strict=True)
    rows = [[label.ljust(width), *cells] for label, *cells in columns]
    print(table(["".ljust(width), *(d.name for d in downloads)], rows))
    for name, run in runs.items():
        print(
            f"{name}: RSS {_mib(run.rss_fresh)} MiB fresh, {_mib(run.rss_warm)} MiB after the "
            "warm-up (a 10-minute window in every format)"
        )
    print(
        "notes: rows/s = rows received / time from sending the request to the last byte; "
        "RSS from /proc/<pid>/status (polled every 20 ms, plus VmHWM reset before each "
        "download); CPU from /proc (PostgreSQL = backends of the bench database plus the "
        "shared background processes; other = the rest of the machine's busy time). "
        "The naive server checks no key and applies no privacy rule: it does less work "
        "than fleetbed."
    )


def problems(downloads: list[Download], expected: int) -> list[str]:
    """Why a run does not count, if it does not."""
    found = []
    for d in downloads:
        if d.body.error:
            found.append(f"{d.name}: {d.body.error}")
        elif d.body.rows != expected:
            found.append(f"{d.name}: {d.body.rows:,} rows received, {expected:,} inserted")
    return found


def targets(downloads: list[Download]) -> list[str]:
    """The fleetbed figures against the issue's targets."""
    lines = []
    for d in downloads:
        if d.format == "csv":
            met = "met" if d.rate >= CSV_TARGET_ROWS_S else "MISSED"
            lines.append(f"target {d.name} >= {CSV_TARGET_ROWS_S:,} rows/s: {met}")
        met = "met" if d.growth_mb < RSS_TARGET_MB else "MISSED"
        lines.append(f"target {d.name} RSS growth < {RSS_TARGET_MB:g} MiB: {met}")
    return lines


def result_line(fleetbed: Download | None, baseline: Download | None) -> str:
    """The machine-readable last line."""
    rate = fleetbed.rate if fleetbed else 0.0
    base = baseline.rate if baseline else 0.0
    ratio = rate / base if base else float("inf")
    return f"RESULT export rows_per_s={rate:.1f} baseline={base:.1f} ratio={ratio:.2f}"


def _csv(run: ServerRun | None) -> Download | None:
    return next((d for d in run.downloads if d.format == "csv"), None) if run else None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every download came back whole."""
    plan = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    load_before = os.getloadavg()[0]
    runs: dict[str, ServerRun] = {}
    try:
        key, trips = prepare(plan)
        env = server_env(plan.database_url, plan.redis_url)
        with tempfile.TemporaryDirectory(prefix="fleetbed-bench-") as tmp:
            logs = Path(tmp)
            with start_fleetbed(env, logs) as server:
                server.wait_ready("/readyz")
                fleetbed = Target(server, key, STREAM_STALL_S)
                runs["fleetbed"] = run_server(fleetbed, FORMATS, trips, plan, logs, plan.profile)
            with start_naive(plan.database_url, logs) as naive:
                naive.wait_ready("/healthz")
                baseline = Target(naive, None, BASELINE_STALL_S)
                runs["naive"] = run_server(baseline, plan.baseline_formats, trips, plan, logs)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print_report(plan, trips, runs, (load_before, os.getloadavg()[0]))
    failures = problems([d for run in runs.values() for d in run.downloads], trips.trips)
    for failure in failures:
        print(f"ERROR: {failure}")
    for line in targets(runs["fleetbed"].downloads):
        print(line)
    print(result_line(_csv(runs.get("fleetbed")), _csv(runs.get("naive"))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
